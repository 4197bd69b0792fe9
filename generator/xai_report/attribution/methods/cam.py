"""The adapter from any ``grad-cam`` CAM class to the :class:`~.explainer.Explainer` interface.

Any class with ``pytorch_grad_cam``'s ``BaseCAM`` constructor ``cls(model=, target_layers=)`` works: the
library's own (Grad-CAM, Grad-CAM++, ...) and ours (:mod:`.ablation_cam`, :mod:`.score_cam`). It is called as
``cam(input_tensor=x, targets=[ClassifierOutputTarget(k)])`` with ``k`` the explained class, never a fixed
0: ``ClassifierOutputTarget(0)`` explains class 0 (tench) whatever the image shows.

Token layers (ViT, DeiT, Swin): the CAM gets the layer's ``reshape_transform``
(:class:`~xai_report.models.tokens.TokenLayout`), Ablation-CAM gets grad-cam's ``AblationLayerVit``, and the
method's entry says which implementation ran (``implementation``): our fast Ablation-CAM cannot cut a model at a
token layer and runs the library's computation; our Score-CAM works on the reshaped grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pytorch_grad_cam import AblationCAM
from pytorch_grad_cam.ablation_layer import AblationLayerVit
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from ...data import PreparedImage
from .. import overlays
from .explainer import Explainer, Explanation, Settings


def implementation(cam_class: type[BaseCAM]) -> str:
    """What runs for ``cam_class`` on a token layer, for the pages."""
    if issubclass(cam_class, AblationCAM) and cam_class.__module__.startswith("xai_report."):  # our fast one
        return "grad-cam's AblationCAM with AblationLayerVit (ours cannot cut the model at a token layer)"
    if issubclass(cam_class, AblationCAM):
        return "grad-cam's AblationCAM with AblationLayerVit"
    return f"{cam_class.__name__} on the layer's tokens reshaped to a grid"


class CamExplainer(Explainer):
    """A ``BaseCAM`` class on the study's target layer; the map is the library's, scaled to [0, 1] by it."""

    def __init__(self, cam_class: type[BaseCAM], settings: Settings, batched: bool = False) -> None:
        self.cam_class = cam_class
        self.layer = settings.layer
        self.device = settings.device
        self.batch_size = settings.batch_size
        self.batched = batched
        self.layout = settings.layout if settings.layout is not None and settings.layout.is_token else None

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        extra: dict[str, Any] = {}
        if self.layout is not None:
            extra["reshape_transform"] = self.layout.reshape_transform()
            if issubclass(self.cam_class, AblationCAM):
                extra["ablation_layer"] = AblationLayerVit()
        with self.cam_class(model=model, target_layers=[self.layer], **extra) as cam:
            # Perturbation CAMs score their perturbed images this many at a time (others have no batch size).
            if hasattr(cam, "batch_size"):
                cam.batch_size = self.batch_size
            maps = cam(input_tensor=image.tensor.to(self.device), targets=[ClassifierOutputTarget(int(target))])
        fields = {} if self.layout is None else {"implementation": implementation(self.cam_class),
                                                 "layer_layout": self.layout.describe()}
        return Explanation(map=np.asarray(maps[0], dtype=np.float32), fields=fields)

    def implementation(self) -> str:
        """What runs on the target layer, for the methodology page."""
        return f"{self.cam_class.__name__} on a convolutional layer" if self.layout is None else implementation(self.cam_class)

    @property
    def runs(self) -> tuple[Any, ...]:
        return (type(self), self.cam_class)

    def params(self) -> dict[str, Any]:
        # The batch size decides Ablation-CAM's ablation value (see ablation_cam.ablation_values).
        params: dict[str, Any] = {"batch_size": self.batch_size} if self.batched else {}
        if self.layout is not None:  # the reshape is part of what makes the map (conv layers: keys unchanged)
            params["layout"] = [self.layout.kind, list(self.layout.grid), self.layout.prefix]  # its code: in the closure
        return params

    def overlay(self, rgb: np.ndarray, explanation: Explanation) -> bytes:
        """The library's jet heatmap of the map as it is (the library has already scaled it to [0, 1])."""
        return overlays.cam_overlay(rgb, explanation.map)
