"""GradientSHAP (Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017; captum's
``GradientShap``): expected gradients x (input - baseline) over random baselines and random points between.

For baselines ``b`` drawn from a set ``B``, ``α ~ U(0, 1)`` and (optionally) noise ``ε ~ N(0, σ²)`` on the input:

    φ(x) = E_{b, α, ε}[ (x_ε - b) ⊙ ∂f_c(b + α (x_ε - b)) / ∂x ],   x_ε = x + ε

estimated with ``samples`` draws; ``f_c`` is the target logit. In expectation the attributions sum to
``f(x) - E_b[f(b)]``. captum's ``GradientShap`` has no batch size (captum #1350): here the draws are made first, in
captum's order, and the points run ``attribution.batch_size`` at a time (:mod:`.sampled_gradients`), so the map is
captum's for the same seeds whatever the batch size.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...data import PreparedImage
from ...errors import ConfigError
from .baselines import Baseline, baseline
from .captum_adapter import Attributed, CaptumExplainer
from .sampled_gradients import draws, mean_gradient, shap_points


class GradientShapParams(BaseModel):
    """``[attribution.gradientshap]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    samples: int = 32
    """Draws of (baseline, α, ε) (captum's ``n_samples``)."""
    stdev: float = 0.0
    """σ of the noise added to the input, in normalised units (captum's ``stdevs``)."""
    baseline: Baseline = "uniform"
    """The baselines' kind (:mod:`.baselines`); ``uniform`` gives ``baselines`` different noise images."""
    baselines: int = 8
    """How many baselines the draws choose from."""

    def check(self) -> None:
        if self.samples < 1 or self.baselines < 1 or self.stdev < 0:
            raise ConfigError("attribution.gradientshap: samples >= 1, baselines >= 1 and stdev >= 0 are required")


class GradientShapExplainer(CaptumExplainer):
    """GradientSHAP over the named baselines, batched."""

    name = "gradientshap"
    batched = True

    def references(self, x: torch.Tensor) -> torch.Tensor:
        """The baselines the draws choose from (B x 3 x H x W, normalised)."""
        return baseline(self.method.baseline, x, self.preprocess, self.seed, self.method.baselines)

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        references = self.references(x)
        drawn = draws(self.seed, self.method.samples, len(references), tuple(x.shape[1:]), self.method.stdev)
        points, weights = shap_points(x, references, drawn)
        return Attributed(mean_gradient(model, target, points, weights, self.batch_size))
