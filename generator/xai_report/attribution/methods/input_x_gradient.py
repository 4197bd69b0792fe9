"""Input x Gradient (Shrikumar et al., "Not Just a Black Box: Learning Important Features Through Propagating
Activation Differences", 2016), with captum's ``InputXGradient``.

The attribution of input ``x_k`` for the target logit ``f_c`` is ``x_k · ∂f_c/∂x_k`` (in the model's normalised
input space, so it is relative to the ``mean`` baseline: a pixel at the mean colour gets 0); the exported map sums
the three channels, signed.
"""

from __future__ import annotations

import torch
from torch import nn

from ...data import PreparedImage
from .captum_adapter import Attributed, CaptumExplainer


class InputXGradientExplainer(CaptumExplainer):
    """captum's ``InputXGradient(model).attribute(x, target)``."""

    name = "inputxgradient"

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        return Attributed(self.attr.InputXGradient(model).attribute(x, target=target))
