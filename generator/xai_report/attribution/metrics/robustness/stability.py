"""Stability of an explanation across seeds: do reruns with other seeds rank the pixels alike?

LIME (Ribeiro et al., KDD 2016) draws its superpixels (quickshift's tie-breaking noise; RISE draws its masks from one too) and its perturbation
samples from a seed, so one image has as many LIME maps as seeds. For the maps ``M_s`` of seeds
``s_0 .. s_m`` this reports, for every pair, Spearman's rank correlation of their pixels and the IoU of their
top-10 % pixels (:mod:`.agreement`), and the mean and minimum over the pairs. Repeated runs on the same
input should explain it the same way; Visani et al. ("Statistical stability indices for LIME", Journal of the
Operational Research Society 2022) measure LIME's run-to-run instability on tabular data, here it is the
rank agreement of the maps. 1 = identical rankings; unrelated maps
give about 0 (Spearman) and 0.053 (top-10 % IoU).
"""

from __future__ import annotations

from itertools import combinations
from typing import Mapping

import numpy as np

from ....numbers import rounded
from ..agreement import spearman, topk_iou


def _mean(values: list[float]) -> float | None:
    return rounded(np.mean(values)) if values else None


def seed_agreement(maps: Mapping[int, np.ndarray]) -> dict:
    """Pairwise agreement of the maps of several seeds (seed -> map); see the module docstring."""
    pairs = []
    for a, b in combinations(sorted(maps), 2):
        rho, iou = spearman(maps[a], maps[b]), topk_iou(maps[a], maps[b], frac=0.1)
        pairs.append({"a": a, "b": b, "spearman": rounded(rho), "iou_top10": rounded(iou)})
    rhos = [p["spearman"] for p in pairs if p["spearman"] is not None]
    ious = [p["iou_top10"] for p in pairs if p["iou_top10"] is not None]
    return {"seeds": sorted(maps), "pairs": pairs, "mean_spearman": _mean(rhos),
            "min_spearman": rounded(min(rhos)) if rhos else None, "mean_iou_top10": _mean(ious)}
