"""Guided Backpropagation (Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All
Convolutional Net", ICLR Workshop 2015), with captum's ``GuidedBackprop``.

The gradient of the target logit, except that at every ReLU only positive gradients pass back where the forward
input was positive: ``R_in = 1[x > 0] · max(R_out, 0)``. The exported map sums the channels (signed, though mostly
positive). It is known to fail the model-randomisation sanity check (Adebayo et al., NeurIPS 2018): its maps change
little when the weights are re-initialised, like an edge detector's. The model is checked first and, with in-place,
reused or ReLU6 activations, explained on a corrected copy (:mod:`.relu_check`).
"""

from __future__ import annotations

import torch
from torch import nn

from ...data import PreparedImage
from .captum_adapter import Attributed
from .checked_model import CheckedExplainer


class GuidedBackpropExplainer(CheckedExplainer):
    """captum's ``GuidedBackprop(checked model).attribute(x, target)``."""

    name = "guidedbackprop"

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        return Attributed(self.attr.GuidedBackprop(self.checked(model, x)).attribute(x, target=target))
