"""Run one CAM method of the registry on one prepared image."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from .methods import METHODS


def compute_cam(
    method: str,
    model: torch.nn.Module,
    layer: torch.nn.Module,
    input_tensor: torch.Tensor,
    class_index: int,
    batch_size: int = 32,
) -> np.ndarray:
    """The method's map for ``class_index``: float32, HxW like the model input, scaled to [0, 1] by the library."""
    cam_class = METHODS[method].implementation()
    device = next(model.parameters()).device
    with cam_class(model=model, target_layers=[layer]) as cam:
        if hasattr(cam, "batch_size"):
            cam.batch_size = batch_size
        maps = cam(input_tensor=input_tensor.to(device), targets=[ClassifierOutputTarget(int(class_index))])
    return np.asarray(maps[0], dtype=np.float32)
