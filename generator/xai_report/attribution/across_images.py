"""Across images: the method comparison that the original study made by eye, in numbers only.

Means and spreads of each method's deletion and insertion AUC, how often it beats chance, its agreement with
each region-level explanation (LIME's superpixels), the matrix of pairwise agreement, and the data for the
study's claim that methods agree on simple images and diverge on ambiguous ones: the rank correlation,
across images, between the model's confidence and the methods' agreement with the region-level explanation.
The sentences that read these numbers are made by the pages (``render``), not here.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr

from ..numbers import rounded

MIN_POINTS = 3
"""Images needed before the confidence-agreement correlation is computed."""


def _stats(values: list[float | None]) -> dict:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": rounded(np.mean(vals)), "std": rounded(np.std(vals)), "n": len(vals)}


def method_table(images: list[dict], methods: list[str], region_methods: list[str]) -> list[dict]:
    rows = []
    measured = [r["metrics"] for r in images if "metrics" in r]
    for m in methods:
        faith = [found["faithfulness"]["methods"][m] for found in measured]
        row = {
            "method": m,
            "deletion_auc": _stats([f["deletion_auc"] for f in faith]),
            "insertion_auc": _stats([f["insertion_auc"] for f in faith]),
            "beats_random_deletion": sum(f["beats_random_deletion"] for f in faith),
            "beats_random_insertion": sum(f["beats_random_insertion"] for f in faith),
            "salient_drop_wins": sum(f["drop_most_20"] < f["drop_least_20"] for f in faith),
        }
        row["region_agreement"] = {}  # per region-level method: this method's superpixel Spearman with it
        for owner in region_methods:
            values = [found["agreement"].get(owner, {}).get(m, {}).get("superpixel_spearman") for found in measured]
            row["region_agreement"][owner] = _stats(values) if m != owner else None
        row["images"] = len(faith)
        rows.append(row)
    return rows


def agreement_matrix(images: list[dict], methods: list[str]) -> dict[str, dict[str, float | None]]:
    """Mean pixel-level Spearman for each pair of methods (1 on the diagonal)."""
    matrix = {a: {b: (1.0 if a == b else None) for b in methods} for a in methods}
    for a in methods:
        for b in methods:
            if a >= b:
                continue
            vals = []
            for r in images:
                for pair in r.get("metrics", {}).get("agreement", {}).get("pairs", []):
                    if {pair["a"], pair["b"]} == {a, b}:
                        vals.append(pair["spearman"])
            mean = _stats(vals)["mean"]
            matrix[a][b] = matrix[b][a] = mean
    return matrix


def confidence_vs_agreement(images: list[dict], region_method: str | None) -> dict:
    """Per image: the explained class's probability and the other methods' mean region-level agreement with
    ``region_method``; Spearman's rho between the two across images (None with fewer than 3 images)."""
    points = []
    for r in images:
        found = r.get("metrics", {}).get("agreement", {}).get(region_method, {}) if region_method else {}
        vals = [v["superpixel_spearman"] for v in found.values() if v["superpixel_spearman"] is not None]
        if vals:
            points.append({"id": r["id"], "title": r["title"], "confidence": r["target"]["probability"],
                           "agreement": rounded(np.mean(vals))})
    result = {"points": points, "spearman": None, "p_value": None, "n": len(points)}
    if len(points) >= MIN_POINTS:
        rho, p = spearmanr([p["confidence"] for p in points], [p["agreement"] for p in points])
        if not math.isnan(rho):
            result["spearman"], result["p_value"] = rounded(rho), rounded(p)
    return result


def comparison(images: list[dict], methods: list[str], region_methods: list[str]) -> dict:
    """The ``comparison`` section; the confidence test uses the first region-level method (if any)."""
    return {
        "methods": method_table(images, methods, region_methods),
        "agreement_matrix": agreement_matrix(images, methods),
        "confidence_vs_agreement": confidence_vs_agreement(images, region_methods[0] if region_methods else None),
    }


def accuracy(images: list[dict]) -> dict:
    """Top-1 accuracy on the images whose true class is known: counts, and the titles of the misread ones."""
    labelled = [r for r in images if r["true_class"] is not None]
    return {"labelled": len(labelled), "correct": sum(bool(r["correct"]) for r in labelled),
            "wrong": [r["title"] for r in labelled if not r["correct"]]}
