"""Saliency maps (Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps", ICLR Workshop 2014), with captum's ``Saliency``.

For the class score ``S_c`` (the target logit) and the image ``I``, the map of pixel ``(i, j)`` is the largest
absolute gradient over its colour channels (the paper's section 3.1):

    M(i, j) = max_k |∂S_c / ∂I(k, i, j)|

Unsigned, so it is drawn as a heatmap, not signed.
"""

from __future__ import annotations

import torch
from torch import nn

from ...data import PreparedImage
from .captum_adapter import Attributed, CaptumExplainer


class SaliencyExplainer(CaptumExplainer):
    """captum's ``Saliency(model).attribute(x, target, abs=True)``; the map is its maximum over the channels."""

    name = "saliency"
    channels = "absmax"

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        return Attributed(self.attr.Saliency(model).attribute(x, target=target, abs=True))
