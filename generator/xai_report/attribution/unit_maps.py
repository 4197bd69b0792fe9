"""Where on the image a unit fires: its activation map, upsampled onto the photo, beside the CAMs.

For the units that contribute most to the explained logit (:mod:`.contributions`), the map ``A_j(h, w)`` of unit
``j`` of ``attribution.layer`` is what that unit's contribution ``W[c, j] * mean(A_j)`` averages: Grad-CAM and CAM
are weighted sums of exactly these maps (Zhou et al., CVPR 2016; Selvaraju et al., ICCV 2017), so a reader can see
which part of the CAM each named unit supplies. As in Network Dissection's figures (Bau et al., CVPR 2017), each
map is scaled by its own maximum on this image: it shows where the unit fires, not how strongly compared to others.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..activations import activation_maps
from ..cache import ArtifactCache

from . import overlays
from .inputs import ImageInput, prepared_image


def overlay(rgb: np.ndarray, amap: np.ndarray) -> bytes:
    """The unit's map, bilinearly upsampled to the photo's size and scaled to its own maximum (negative values,
    which a ReLU-free layer can have, count as quiet), drawn as the heatmaps are (:func:`.overlays.cam_overlay`)."""
    up = F.interpolate(torch.from_numpy(amap)[None, None].float(), size=rgb.shape[:2], mode="bilinear",
                       align_corners=False)[0, 0].numpy()
    up = np.clip(up, 0.0, None)
    peak = float(up.max())
    return overlays.cam_overlay(rgb, up / peak if peak > 0 else np.zeros_like(up))


def add_maps(cache: ArtifactCache, module: nn.Module, model_key: dict, layer: str, device: torch.device,
             item: ImageInput, neurons: dict) -> None:
    """Give each unit listed in ``neurons`` (the decomposition of :mod:`.contributions`) its ``map``: its activation
    map at ``layer`` of ``module`` (on ``device``, identified by ``model_key``) on the photo, cached per image and
    units, exported as ``overlays/<image>_unit<j>.jpg``."""
    if "units" not in neurons or "features" in neurons:  # "features": a token head's, not the layer's units
        return
    units = [u["unit"] for u in neurons["units"]]
    key = cache.key("unit_maps", code=(activation_maps, prepared_image), model=model_key, layer=layer,
                    image=item.sha256, units=units)
    x = item.prepared.tensor.to(device)
    art = cache.cached(key, lambda: ({"kind": "unit_maps"},
                                     {"maps.npy": activation_maps(module, layer, x, units, device=device)[0].numpy()}))
    for u, amap in zip(neurons["units"], art.array("maps.npy")):
        u["map"] = cache.export(f"overlays/{item.image_id}_unit{u['unit']}.jpg", overlay(item.prepared.rgb, amap))
