"""Per-image numbers for the explanations: the faithfulness of each map and the agreement between methods.

Faithfulness follows Petsiuk et al. (RISE, BMVC 2018) with a blurred fill (:mod:`.faithfulness`); every
AUC is read against a smooth random map at the target layer's resolution. Agreement is measured at the
pixel level (Spearman, top-10 % and top-20 % IoU) for every pair of methods, and at the region level for
every method against each explanation that has regions (LIME's superpixels: Ribeiro et al., KDD 2016).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

from ...numbers import rounded as _r
from . import agreement as agree
from .faithfulness import deletion_insertion as faith
from ..methods.explainer import Explanation

RANDOM_MAPS = 5
"""Smooth random maps averaged into the chance level (seeds ``seed .. seed + 4``)."""


def faithfulness(model: torch.nn.Module, input_tensor: torch.Tensor, maps: dict[str, np.ndarray], target: int,
                 steps: int, low_res_hw: tuple[int, int], seed: int) -> dict:
    """Deletion/insertion curves and AUCs per method, the 20 % salient-drop check, the random baseline, and
    whether each method beats it (deletion AUC below the baseline's, insertion AUC above)."""
    per_method = {}
    fractions = None
    for name, saliency in maps.items():
        result = faith.deletion_insertion(model, input_tensor, saliency, target, steps=steps)
        drop = faith.salient_drop(model, input_tensor, saliency, target, fraction=0.2)
        fractions = [_r(f) for f in result.fractions]
        per_method[name] = {
            "deletion_auc": _r(result.deletion_auc),
            "insertion_auc": _r(result.insertion_auc),
            "deletion_curve": [_r(v) for v in result.deletion_curve],
            "insertion_curve": [_r(v) for v in result.insertion_curve],
            "drop_most_20": _r(drop.most_deleted),
            "drop_least_20": _r(drop.least_deleted),
        }
    seeds = tuple(seed + i for i in range(RANDOM_MAPS))
    baseline = faith.random_baseline(model, input_tensor, target, low_res_hw=low_res_hw, seeds=seeds, steps=steps)
    random = {
        "deletion_auc": _r(baseline.deletion_auc),
        "insertion_auc": _r(baseline.insertion_auc),
        "deletion_auc_std": _r(baseline.deletion_auc_std),
        "insertion_auc_std": _r(baseline.insertion_auc_std),
        "low_res_hw": list(baseline.low_res_hw),
        "seeds": list(seeds),
    }
    for entry in per_method.values():  # compared as rounded, as the pages show them
        entry["beats_random_deletion"] = bool(entry["deletion_auc"] < random["deletion_auc"])
        entry["beats_random_insertion"] = bool(entry["insertion_auc"] > random["insertion_auc"])
    return {"fractions": fractions, "methods": per_method, "random": random}


def metrics(model: torch.nn.Module, input_tensor: torch.Tensor, explanations: dict[str, Explanation], target: int,
            steps: int, low_res_hw: tuple[int, int], seed: int) -> tuple[dict, dict]:
    """The metrics artifact of one image: :func:`faithfulness` of every map and the methods' :func:`agreement`."""
    faith_found = faithfulness(model, input_tensor, {m: e.map for m, e in explanations.items()}, target, steps,
                               low_res_hw, seed)
    return {"kind": "metrics", "faithfulness": faith_found, "agreement": agreement(explanations)}, {}


def agreement(explanations: dict[str, Explanation]) -> dict:
    """Pairwise pixel-level agreement (``pairs``), and, under the name of each explanation that has regions,
    every other method's agreement with it region by region."""
    maps = {name: e.map for name, e in explanations.items()}
    pairs = []
    for a, b in combinations(maps, 2):
        pairs.append({
            "a": a,
            "b": b,
            "spearman": _r(agree.spearman(maps[a], maps[b])),
            "iou_top10": _r(agree.topk_iou(maps[a], maps[b], frac=0.1)),
            "iou_top20": _r(agree.topk_iou(maps[a], maps[b], frac=0.2)),
        })
    found: dict = {"pairs": pairs}
    for owner, explanation in explanations.items():
        regions = explanation.regions
        if regions is None:
            continue
        found[owner] = {
            name: {
                "superpixel_spearman": _r(agree.region_spearman(saliency, regions.segments, regions.weights)),
                "top5_overlap": _r(agree.top_region_overlap(saliency, regions.segments, regions.weights, k=5)),
            }
            for name, saliency in maps.items()
            if name != owner
        }
    return found
