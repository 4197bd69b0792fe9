"""DeepLIFT (Shrikumar, Greenside & Kundaje, "Learning Important Features Through Propagating Activation
Differences", ICML 2017), with captum's ``DeepLift`` (the Rescale rule).

Each neuron's difference from its value on the baseline, ``Δy = y(x) - y(x')``, is distributed over its inputs by
multipliers: linear layers pass it by their weights, non-linearities by ``m = Δy / Δx`` (the Rescale rule). The
attributions sum to ``f(x) - f(x')`` for the target logit ``f`` (summation to delta); the gap captum reports is
recorded as ``convergence_delta``. Baseline ``black`` by default (:mod:`.baselines`). The model is checked first
(:mod:`.relu_check`): in-place or reused activations run on a corrected copy; ReLU6 (no Rescale rule in captum) and
functional activations stop with one line naming the module.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...data import PreparedImage
from ...numbers import rounded
from .baselines import Baseline, baseline
from .captum_adapter import Attributed
from .checked_model import CheckedExplainer


class DeepLiftParams(BaseModel):
    """``[attribution.deeplift]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    baseline: Baseline = "black"

    def check(self) -> None:
        """Nothing beyond types."""


class DeepLiftExplainer(CheckedExplainer):
    """captum's ``DeepLift(checked model).attribute(x, baseline, target)``."""

    name = "deeplift"
    relu6 = False
    method: DeepLiftParams

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        reference = baseline(self.method.baseline, x, self.preprocess, self.seed)
        found, delta = self.attr.DeepLift(self.checked(model, x)).attribute(
            x, baselines=reference, target=target, return_convergence_delta=True)
        return Attributed(found, fields={"convergence_delta": rounded(float(delta.item()))})
