"""What DeepLift, Guided Backprop and Guided Grad-CAM share: the model they run on is checked first and, where
needed, a corrected copy (:mod:`.relu_check`), made once per model."""

from __future__ import annotations

import torch
from torch import nn

from .captum_adapter import CaptumExplainer
from .relu_check import corrected


class CheckedExplainer(CaptumExplainer):
    """A captum method that replaces activation modules' gradients; ``relu6``: it can run on ReLU6 as
    :class:`~.relu_check.GuidedReLU6`."""

    relu6: bool = True

    def checked(self, model: nn.Module, x: torch.Tensor) -> nn.Module:
        """``model``, or its corrected copy (made on the first image, kept while the same model comes)."""
        held = getattr(self, "_checked", None)
        if held is None or held[0] is not model:
            self._checked = (model, corrected(model, x, self.name, self.relu6))
        return self._checked[1]
