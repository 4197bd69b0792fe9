"""Across images: the method comparison that the original study made by eye.

Means and spreads of each method's deletion and insertion AUC, its agreement with LIME, the matrix of
pairwise agreement, and a test of the study's claim that methods agree on simple images and diverge on
ambiguous ones: the rank correlation, across images, between the model's confidence and CAM-LIME agreement.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr


def _stats(values: list[float | None]) -> dict:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": round(float(np.mean(vals)), 6), "std": round(float(np.std(vals)), 6), "n": len(vals)}


def method_table(images: list[dict], methods: list[str]) -> list[dict]:
    rows = []
    for m in methods:
        faith = [r["metrics"]["faithfulness"]["methods"][m] for r in images if "metrics" in r]
        rand = [r["metrics"]["faithfulness"]["random"] for r in images if "metrics" in r]
        lime = [r["metrics"]["agreement"]["lime"].get(m, {}).get("superpixel_spearman") for r in images if "metrics" in r]
        rows.append({
            "method": m,
            "deletion_auc": _stats([f["deletion_auc"] for f in faith]),
            "insertion_auc": _stats([f["insertion_auc"] for f in faith]),
            "beats_random_deletion": sum(f["deletion_auc"] < r["deletion_auc"] for f, r in zip(faith, rand)),
            "beats_random_insertion": sum(f["insertion_auc"] > r["insertion_auc"] for f, r in zip(faith, rand)),
            "salient_drop_wins": sum(f["drop_most_20"] < f["drop_least_20"] for f in faith),
            "lime_superpixel_spearman": _stats(lime) if m != "lime" else None,
            "images": len(faith),
        })
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


def confidence_vs_agreement(images: list[dict]) -> dict:
    """Per image: the explained class's probability and the mean CAM-vs-LIME superpixel agreement."""
    points = []
    for r in images:
        lime = r.get("metrics", {}).get("agreement", {}).get("lime", {})
        vals = [v["superpixel_spearman"] for v in lime.values() if v["superpixel_spearman"] is not None]
        if vals:
            points.append({"id": r["id"], "title": r["title"], "confidence": r["target"]["probability"],
                           "agreement": round(float(np.mean(vals)), 6)})
    result = {"points": points, "spearman": None, "p_value": None, "n": len(points)}
    if len(points) >= 3:
        rho, p = spearmanr([p["confidence"] for p in points], [p["agreement"] for p in points])
        if not math.isnan(rho):
            result["spearman"], result["p_value"] = round(float(rho), 6), round(float(p), 6)
    result["verdict"] = _verdict(result)
    return result


def _verdict(result: dict) -> str:
    rho, p, n = result["spearman"], result["p_value"], result["n"]
    if rho is None:
        return "too few images with both LIME and a CAM to test the claim"
    strength = "supports" if rho > 0 and p < 0.05 else ("leans towards" if rho > 0 else "does not support")
    return (f"across {n} images, CAM-LIME agreement and the model's confidence have Spearman rho = {rho:.2f} "
            f"(p = {p:.2f}): our data {strength} the study's claim that methods agree more on clear images")


def comparison(images: list[dict], methods: list[str]) -> dict:
    return {
        "methods": method_table(images, methods),
        "agreement_matrix": agreement_matrix(images, methods),
        "confidence_vs_agreement": confidence_vs_agreement(images),
    }


def headlines(comp: dict, titles: dict[str, str]) -> list[str]:
    """One-line findings for the home page."""
    lines = []
    rows = [r for r in comp["methods"] if r["deletion_auc"]["mean"] is not None]
    if rows:
        best = min(rows, key=lambda r: r["deletion_auc"]["mean"])
        lines.append(
            f"Most faithful by deletion AUC (lower is better): {titles[best['method']]} "
            f"({best['deletion_auc']['mean']:.3f} on average); it beats a smooth random map on "
            f"{best['beats_random_deletion']} of {best['images']} images."
        )
        for r in rows:
            if r["beats_random_deletion"] * 2 < r["images"]:
                lines.append(f"{titles[r['method']]} deletes slower than a random map on most images "
                             f"({r['images'] - r['beats_random_deletion']} of {r['images']}).")
    cva = comp["confidence_vs_agreement"]
    if cva["spearman"] is not None:
        lines.append("Simple vs ambiguous images: " + cva["verdict"] + ".")
    return lines
