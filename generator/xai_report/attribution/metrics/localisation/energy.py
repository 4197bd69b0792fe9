"""Energy-based pointing game: how much of a map's positive mass lies inside the object's boxes.

Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks", CVPR
Workshops 2020, Sec. 5 (localisation evaluation), score a map ``S`` against a box mask ``B`` by

    energy = sum_{p in B} S+(p) / sum_p S+(p),

with ``S+ = max(S, 0)``: the share of the map's evidence for the class that falls on the object (1 when the
whole map is inside the boxes). A map that spreads its mass evenly scores the boxes' area share
``|B| / |S|``, reported beside it as the chance level. Maps and mask share the model's input frame
(:func:`.boxes.input_mask`).
"""

from __future__ import annotations

import numpy as np

from ..maps import ArrayLike, as_map


def positive_part(saliency: ArrayLike) -> np.ndarray:
    """``max(S, 0)`` with non-finite values set to 0 (they carry no evidence)."""
    arr = as_map(saliency)
    return np.where(np.isfinite(arr), np.maximum(arr, 0.0), 0.0)


def energy_in_mask(saliency: ArrayLike, mask: np.ndarray) -> float | None:
    """Share of the map's positive mass inside ``mask`` (bool, same shape); ``None`` when the map has no
    positive mass (nothing to point with)."""
    return mass_share(positive_part(saliency), mask)


def mass_share(relevance: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of non-negative ``relevance``'s sum inside ``mask`` (bool, same shape); ``None`` when the sum is 0
    (also Relevance Mass Accuracy's computation, :mod:`.relevance_mass_accuracy`)."""
    if relevance.shape != mask.shape:
        raise ValueError(f"map {relevance.shape} and box mask {mask.shape} differ in shape")
    total = float(relevance.sum())
    if total <= 0.0:
        return None
    return float(relevance[mask].sum() / total)


def area_share(mask: np.ndarray) -> float:
    """The chance level of :func:`energy_in_mask`: the share of pixels inside the mask."""
    return float(mask.mean())
