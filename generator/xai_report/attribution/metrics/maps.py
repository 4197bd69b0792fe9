"""Saliency maps as arrays: the conventions every metric shares.

* Maps are 2-D (``HxW``; a ``1xHxW`` array or tensor is accepted), higher = more salient.
* Pixel order is deterministic: pixels are sorted by decreasing saliency; ties keep raster order (row by row,
  top-left first); non-finite values (NaN, +-inf) count as the least salient.
* A map is constant when its finite values do not rank pixels (:func:`is_constant`); metrics that need a
  ranking return ``None`` for it.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch
from torch.nn import functional as F

CONSTANT_RTOL = 1e-9
"""A map whose spread is below this fraction of its magnitude is constant (float noise from resizing)."""

ArrayLike = Union[np.ndarray, torch.Tensor]


def as_map(saliency: ArrayLike) -> np.ndarray:
    """A saliency map as a float64 ``HxW`` array (accepts numpy or torch, ``HxW`` or ``1xHxW``)."""
    if isinstance(saliency, torch.Tensor):
        saliency = saliency.detach().cpu().numpy()
    arr = np.asarray(saliency, dtype=np.float64)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"a saliency map must be 2-D (HxW), got shape {np.shape(saliency)}")
    return arr


def resize_map(saliency: ArrayLike, hw: tuple[int, int]) -> np.ndarray:
    """Resize a map to ``hw`` bilinearly (with antialiasing when shrinking, so shrinking averages areas).

    Non-finite values would spread over their neighbours, so they are set to the map's finite minimum first
    (the least salient, as everywhere in this module).
    """
    arr = as_map(saliency)
    if arr.shape == tuple(hw):
        return arr.copy()
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, arr[finite].min() if finite.any() else 0.0)
    t = torch.from_numpy(arr)[None, None]
    out = F.interpolate(t, size=tuple(hw), mode="bilinear", align_corners=False, antialias=True)
    return out[0, 0].numpy()


def saliency_order(saliency: ArrayLike) -> np.ndarray:
    """Flat pixel indices from most to least salient; ties in raster order, non-finite values last."""
    flat = as_map(saliency).ravel()
    key = np.where(np.isfinite(flat), -flat, np.inf)
    # A stable sort keeps equal keys in raster order, so the order never depends on the sort algorithm.
    return np.argsort(key, kind="stable")


def saliency_ranks(saliency: ArrayLike) -> np.ndarray:
    """``HxW`` int array: each pixel's position in :func:`saliency_order` (0 = most salient)."""
    arr = as_map(saliency)
    ranks = np.empty(arr.size, dtype=np.int64)
    ranks[saliency_order(arr)] = np.arange(arr.size)
    return ranks.reshape(arr.shape)


def is_constant(values: np.ndarray) -> bool:
    """True when the finite values do not rank pixels: fewer than two, or all equal up to float noise."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return True
    spread = float(finite.max() - finite.min())
    return spread <= CONSTANT_RTOL * float(np.abs(finite).max())
