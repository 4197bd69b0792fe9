"""The adapter from any ``grad-cam`` CAM class to the :class:`~.explainer.Explainer` interface.

Any class with ``pytorch_grad_cam``'s ``BaseCAM`` constructor ``cls(model=, target_layers=)`` works: the
library's own (Grad-CAM, Grad-CAM++, ...) and ours (:mod:`.ablation_cam`, :mod:`.score_cam`). It is called as
``cam(input_tensor=x, targets=[ClassifierOutputTarget(k)])`` with ``k`` the explained class, never a fixed
0: ``ClassifierOutputTarget(0)`` explains class 0 (tench) whatever the image shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from ..data import PreparedImage
from . import overlays
from .explainer import Explainer, Explanation, Settings


class CamExplainer(Explainer):
    """A ``BaseCAM`` class on the study's target layer; the map is the library's, scaled to [0, 1] by it."""

    def __init__(self, cam_class: type[BaseCAM], settings: Settings, batched: bool = False) -> None:
        self.cam_class = cam_class
        self.layer = settings.layer
        self.device = settings.device
        self.batch_size = settings.batch_size
        self.batched = batched

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        with self.cam_class(model=model, target_layers=[self.layer]) as cam:
            # Perturbation CAMs score their perturbed images this many at a time (others have no batch size).
            if hasattr(cam, "batch_size"):
                cam.batch_size = self.batch_size
            maps = cam(input_tensor=image.tensor.to(self.device), targets=[ClassifierOutputTarget(int(target))])
        return Explanation(map=np.asarray(maps[0], dtype=np.float32))

    @property
    def runs(self) -> tuple[Any, ...]:
        return (type(self), self.cam_class)

    def params(self) -> dict[str, Any]:
        # The batch size decides Ablation-CAM's ablation value (see ablation_cam.ablation_values).
        return {"batch_size": self.batch_size} if self.batched else {}

    def overlay(self, rgb: np.ndarray, explanation: Explanation) -> bytes:
        """The library's jet heatmap of the map as it is (the library has already scaled it to [0, 1])."""
        return overlays.cam_overlay(rgb, explanation.map)
