"""Agreement: do two explanations point at the same pixels, or the same regions?

* :func:`spearman` -- rank correlation of two maps at a common resolution.
* :func:`topk_iou` -- intersection over union of the top 10 % (or any fraction) pixels of two maps.
* :func:`region_spearman`, :func:`top_region_overlap` -- a map against region-level evidence (segment ids and
  one weight per segment, such as LIME's superpixels: Ribeiro, Singh & Guestrin, "'Why Should I Trust You?':
  Explaining the Predictions of Any Classifier", KDD 2016) at the regions' own granularity.

An agreement that is undefined -- a constant map has no ranking, so neither a rank correlation nor a
"top k %" region -- is returned as ``None``, not 0.0, so that "no ranking" is never averaged in as
"uncorrelated". Callers should report ``None`` as "n/a" and leave it out of means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch
from scipy.stats import rankdata

from .maps import ArrayLike, as_map, is_constant, resize_map, saliency_order

RegionWeights = Mapping[int, float] | Iterable[tuple[int, float]]
"""Weights per region: ``{segment_id: weight}`` or a list of ``(segment_id, weight)`` pairs (LIME's ``local_exp``)."""


def common_resolution(
    a: ArrayLike, b: ArrayLike, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two maps at one resolution: ``size`` if given, else the size of the map with fewer pixels.

    Shrinking the larger map (area-averaging, see :func:`resize_map`) instead of enlarging the smaller keeps
    the comparison at the coarser map's real resolution: upsampling a 7x7 CAM would invent 50,000 interpolated
    "pixels" whose ranks mean nothing extra and would inflate agreement.
    """
    a, b = as_map(a), as_map(b)
    if size is None:
        size = a.shape if a.size <= b.size else b.shape
    size = (int(size[0]), int(size[1]))
    return resize_map(a, size), resize_map(b, size)


def _rank_correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho of paired values: Pearson correlation of their average ranks; None if undefined.

    Pairs with a non-finite value are dropped; with fewer than two pairs left, or either side constant
    (no ranking), rho is undefined.
    """
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or is_constant(x) or is_constant(y):
        return None
    rx = rankdata(x) - (x.size + 1) / 2.0
    ry = rankdata(y) - (y.size + 1) / 2.0
    rho = float(np.dot(rx, ry) / np.sqrt(np.dot(rx, rx) * np.dot(ry, ry)))
    return float(np.clip(rho, -1.0, 1.0))


def spearman(a: ArrayLike, b: ArrayLike, size: tuple[int, int] | None = None) -> float | None:
    """Spearman rank correlation (Spearman, 1904) of two maps' pixels at a common resolution.

    The maps are brought to ``size``, or else to the resolution of the map with fewer pixels
    (:func:`common_resolution`). Ties get average ranks; pixels non-finite in either map are left out.
    Returns a value in [-1, 1], or ``None`` when a map is constant (it ranks nothing, so rho is undefined).
    """
    a, b = common_resolution(a, b, size)
    return _rank_correlation(a.ravel(), b.ravel())


def topk_mask(saliency: ArrayLike, frac: float) -> np.ndarray:
    """``HxW`` bool mask of the ``max(1, round(frac*H*W))`` most salient pixels (ties in raster order)."""
    if not 0.0 < frac <= 1.0:
        raise ValueError(f"frac must be in (0, 1], got {frac}")
    arr = as_map(saliency)
    k = max(1, int(round(frac * arr.size)))
    mask = np.zeros(arr.size, dtype=bool)
    mask[saliency_order(arr)[:k]] = True
    return mask.reshape(arr.shape)


def topk_iou(a: ArrayLike, b: ArrayLike, frac: float = 0.1, size: tuple[int, int] | None = None) -> float | None:
    """Intersection over union of the top ``frac`` pixels of two maps (e.g. 0.1 and 0.2), at a common resolution.

    Both regions hold the same number of pixels, so the IoU is 1 for the same region, 0 for disjoint ones and
    ``frac/(2-frac)`` on average for unrelated random maps (0.053 at 10 %, 0.111 at 20 %). Resolution as in
    :func:`spearman`. ``None`` when a map is constant: its "top k %" would be an arbitrary raster-order block.
    """
    a, b = common_resolution(a, b, size)
    if is_constant(a.ravel()) or is_constant(b.ravel()):
        return None
    ma, mb = topk_mask(a, frac), topk_mask(b, frac)
    return float(np.logical_and(ma, mb).sum() / np.logical_or(ma, mb).sum())


# ---------------------------------------------------------------------------------------------
# a map against region-level evidence, region by region


def _segments(segments: ArrayLike) -> np.ndarray:
    if isinstance(segments, torch.Tensor):
        segments = segments.detach().cpu().numpy()
    seg = np.asarray(segments)
    if seg.ndim != 2 or not np.issubdtype(seg.dtype, np.integer):
        raise ValueError(f"segments must be a 2-D integer array of region ids, got {seg.dtype} {seg.shape}")
    return seg


def _weights_of(segment_ids: np.ndarray, weights: RegionWeights) -> np.ndarray:
    """The weight of each id; 0.0 for ids without one (LIME's sparse surrogate leaves some out)."""
    lookup = dict(weights)
    return np.array([float(lookup.get(int(s), 0.0)) for s in segment_ids], dtype=np.float64)


def region_means(saliency: ArrayLike, segments: ArrayLike) -> dict[int, float]:
    """Mean of a map inside each region (non-finite pixels left out; NaN for a region with none).

    A map of another size than ``segments`` is resized bilinearly to it first.
    """
    seg = _segments(segments)
    values = resize_map(saliency, seg.shape).ravel()
    ids, inverse = np.unique(seg, return_inverse=True)
    inverse = inverse.ravel()
    finite = np.isfinite(values)
    sums = np.bincount(inverse[finite], weights=values[finite], minlength=ids.size)
    counts = np.bincount(inverse[finite], minlength=ids.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return {int(i): float(m) for i, m in zip(ids, means)}


def _region_scores(saliency: ArrayLike, segments: ArrayLike, weights: RegionWeights):
    """(region ids, the map's mean in each, the weight of each), ids in increasing order."""
    means = region_means(saliency, segments)
    ids = np.array(sorted(means))
    return ids, np.array([means[int(i)] for i in ids]), _weights_of(ids, weights)


def region_spearman(saliency: ArrayLike, segments: ArrayLike, weights: RegionWeights) -> float | None:
    """Spearman correlation between a map's mean inside each region and the region's weight.

    This compares two explanations at the regions' own granularity (one number per region, e.g. per LIME
    superpixel) instead of spreading coarse weights over pixels. Regions without a weight count as 0.0.
    ``None`` when either side is constant over the regions, or fewer than two regions have a finite mean.
    """
    _, map_scores, region_scores = _region_scores(saliency, segments, weights)
    return _rank_correlation(map_scores, region_scores)


def _top_ids(ids: np.ndarray, scores: np.ndarray, k: int) -> set[int]:
    """The k ids of highest score; ties go to the smaller id, non-finite scores last."""
    key = np.where(np.isfinite(scores), -scores, np.inf)
    order = np.lexsort((ids, key))  # last key is primary: score first, then id
    return {int(i) for i in ids[order[:k]]}


def top_region_overlap(saliency: ArrayLike, segments: ArrayLike, weights: RegionWeights, k: int = 5) -> float | None:
    """``|top-k regions by mean map value ∩ top-k by weight| / k`` (k = 5 by default, LIME's usual display).

    Weights are signed, so "top" means most supporting the class. With fewer than ``k`` regions, k is their
    number. ``None`` when either ranking is constant (all regions tie, so a top k is arbitrary).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ids, map_scores, region_scores = _region_scores(saliency, segments, weights)
    if is_constant(map_scores) or is_constant(region_scores):
        return None
    k = min(k, ids.size)
    return len(_top_ids(ids, map_scores, k) & _top_ids(ids, region_scores, k)) / k
