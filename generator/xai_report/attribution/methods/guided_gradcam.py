"""Guided Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017, section 3.2), with captum's ``GuidedGradCam``.

The element-wise product of Guided Backprop (:mod:`.guided_backprop`) and the Grad-CAM map of the study's layer
(``attribution.layer``), upsampled to the input (nearest, captum's default):

    M = GBP(x) ⊙ upsample(ReLU(Σ_k α_k A^k)),   α_k = mean_{ij} ∂f_c/∂A^k_ij

on a corrected copy of the model where needed (:mod:`.relu_check`); the map sums the channels.
"""

from __future__ import annotations

import torch
from torch import nn

from ...data import PreparedImage
from .captum_adapter import Attributed, layer_name
from .checked_model import CheckedExplainer


class GuidedGradCamExplainer(CheckedExplainer):
    """captum's ``GuidedGradCam(checked model, layer).attribute(x, target)``."""

    name = "guidedgradcam"

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        checked = self.checked(model, x)
        layer = checked.get_submodule(layer_name(model, self.layer))
        return Attributed(self.attr.GuidedGradCam(checked, layer).attribute(x, target=target))

    def implementation(self) -> str:
        """What runs on the target layer, for the methodology page."""
        return "captum's GuidedGradCam: Grad-CAM of the layer times Guided Backprop"
