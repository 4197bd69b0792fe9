"""Occlusion (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014), with captum's
``Occlusion``.

A ``window`` x ``window`` patch of all three channels slides over the image in steps of ``stride`` pixels and is
replaced by the baseline (``mean``, the mean colour, by default: the paper's grey square); every pixel gets the mean,
over the patches covering it, of the drop of the target logit ``f(x) - f(x with the patch occluded)``. captum
gives that value to each of the three channels, so the exported map (their sum) is 3x the mean drop. Patches are
scored ``attribution.batch_size`` at a time (captum's ``perturbations_per_eval``).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...data import PreparedImage
from ...errors import ConfigError
from .baselines import Baseline, baseline
from .captum_adapter import Attributed, CaptumExplainer


class OcclusionParams(BaseModel):
    """``[attribution.occlusion]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    window: int = 32
    """The patch's side in pixels."""
    stride: int = 16
    """Its step in pixels."""
    baseline: Baseline = "mean"

    def check(self) -> None:
        if self.window < 1 or not 1 <= self.stride:
            raise ConfigError("attribution.occlusion: window >= 1 and stride >= 1 are required")


class OcclusionExplainer(CaptumExplainer):
    """captum's ``Occlusion(model).attribute(x, (3, w, w), (3, s, s), baseline, target, perturbations_per_eval)``."""

    name = "occlusion"
    batched = True
    method: OcclusionParams

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        p = self.method
        reference = baseline(p.baseline, x, self.preprocess, self.seed)
        found = self.attr.Occlusion(model).attribute(
            x, sliding_window_shapes=(3, p.window, p.window), strides=(3, p.stride, p.stride), baselines=reference,
            target=target, perturbations_per_eval=self.batch_size)
        return Attributed(found)
