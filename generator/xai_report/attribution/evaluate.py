"""Per-image numbers for the explanations: faithfulness of each map and agreement between methods.

Faithfulness follows Petsiuk et al. (RISE, BMVC 2018) with a blurred fill (see ``metrics``); every AUC is
read against a smooth random map at the CAM's own resolution. Agreement is measured at the pixel level
(Spearman, top-10 % and top-20 % IoU) for every pair of methods, and at LIME's superpixel level for each
CAM against LIME (Ribeiro et al., KDD 2016).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

from . import metrics

ROUND = 6


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), ROUND)


def faithfulness(model: torch.nn.Module, input_tensor: torch.Tensor, maps: dict[str, np.ndarray], target: int,
                 steps: int, low_res_hw: tuple[int, int], seed: int) -> dict:
    """Deletion/insertion curves and AUCs per method, the 20 % salient-drop check, and the random baseline."""
    per_method = {}
    fractions = None
    for name, saliency in maps.items():
        result = metrics.deletion_insertion(model, input_tensor, saliency, target, steps=steps)
        drop = metrics.salient_drop(model, input_tensor, saliency, target, fraction=0.2)
        fractions = [round(f, ROUND) for f in result.fractions]
        per_method[name] = {
            "deletion_auc": _r(result.deletion_auc),
            "insertion_auc": _r(result.insertion_auc),
            "deletion_curve": [_r(v) for v in result.deletion_curve],
            "insertion_curve": [_r(v) for v in result.insertion_curve],
            "drop_most_20": _r(drop.most_deleted),
            "drop_least_20": _r(drop.least_deleted),
        }
    seeds = tuple(seed + i for i in range(5))
    baseline = metrics.random_baseline(model, input_tensor, target, low_res_hw=low_res_hw, seeds=seeds, steps=steps)
    return {
        "fractions": fractions,
        "methods": per_method,
        "random": {
            "deletion_auc": _r(baseline.deletion_auc),
            "insertion_auc": _r(baseline.insertion_auc),
            "deletion_auc_std": _r(baseline.deletion_auc_std),
            "insertion_auc_std": _r(baseline.insertion_auc_std),
            "low_res_hw": list(baseline.low_res_hw),
            "seeds": list(seeds),
        },
    }


def agreement(maps: dict[str, np.ndarray], lime: tuple[np.ndarray, dict[int, float]] | None) -> dict:
    """Pairwise pixel-level agreement, and each CAM against LIME at the superpixel level."""
    pairs = []
    for a, b in combinations(maps, 2):
        pairs.append({
            "a": a,
            "b": b,
            "spearman": _r(metrics.spearman(maps[a], maps[b])),
            "iou_top10": _r(metrics.topk_iou(maps[a], maps[b], frac=0.1)),
            "iou_top20": _r(metrics.topk_iou(maps[a], maps[b], frac=0.2)),
        })
    with_lime = {}
    if lime is not None:
        segments, weights = lime
        for name, saliency in maps.items():
            if name == "lime":
                continue
            with_lime[name] = {
                "superpixel_spearman": _r(metrics.superpixel_agreement(saliency, segments, weights)),
                "top5_overlap": _r(metrics.top_superpixel_overlap(saliency, segments, weights, k=5)),
            }
    return {"pairs": pairs, "lime": with_lime}
