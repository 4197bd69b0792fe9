"""Dataset-level findings: each method's faithfulness over all images with its uncertainty, the same per class,
and the images a reviewer should look at first.

Every mean comes with a percentile bootstrap 95% interval (Efron & Tibshirani, *An Introduction to the
Bootstrap*, 1993, ch. 13): draw ``B`` samples of the ``n`` per-image values with replacement, take each sample's
mean ``m*_b``, and report the 2.5th and 97.5th percentiles of ``m*_1 .. m*_B``. The resampling is seeded with
the study's seed (a fresh generator per quantity), so the same records give the same intervals. A share (the
images where a method beats the smooth random map, top-1 accuracy) is the mean of 0/1 values, bootstrapped
the same way. Agreement between two methods is the mean over images of their pixel-level Spearman rho.

The inputs are a few numbers per image (:class:`ImageScores`), not the whole record; the sentences that read
these numbers are made by the pages (``render``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

CONFIDENCE = 0.95
SHORT_LIST = 10
"""Images in each "look here first" list."""
ROUND = 6


@dataclass(frozen=True)
class ImageScores:
    """What the dataset-level findings read of one image."""

    id: str
    title: str
    true_class: str | None
    """The labelled class's name; None when the image has no label."""
    predicted: str
    probability: float
    """The predicted (top-1) class's probability."""
    correct: bool | None
    deletion: dict[str, float] = field(default_factory=dict)
    """Deletion AUC per method (lower is more faithful)."""
    insertion: dict[str, float] = field(default_factory=dict)
    """Insertion AUC per method (higher is more faithful)."""
    beats_random_deletion: dict[str, bool] = field(default_factory=dict)
    beats_random_insertion: dict[str, bool] = field(default_factory=dict)
    spearman: dict[tuple[str, str], float] = field(default_factory=dict)
    """Pixel-level Spearman rho per pair of methods ``(a, b)``, in the order of the study's methods."""


def scores_from_record(record: dict) -> ImageScores:
    """The numbers of one ``attribution.images[]`` record of ``results.json`` that the findings use."""
    faith = record.get("metrics", {}).get("faithfulness", {}).get("methods", {})
    pairs = record.get("metrics", {}).get("agreement", {}).get("pairs", [])
    top = record["predictions"][0]
    return ImageScores(
        id=record["id"], title=record["title"],
        true_class=None if record["true_class"] is None else record["true_class"]["name"],
        predicted=top["name"], probability=top["probability"], correct=record["correct"],
        deletion={m: f["deletion_auc"] for m, f in faith.items()},
        insertion={m: f["insertion_auc"] for m, f in faith.items()},
        beats_random_deletion={m: f["beats_random_deletion"] for m, f in faith.items()},
        beats_random_insertion={m: f["beats_random_insertion"] for m, f in faith.items()},
        spearman={(p["a"], p["b"]): p["spearman"] for p in pairs if p["spearman"] is not None},
    )


def bootstrap_mean(values: list[float], samples: int, seed: int) -> dict:
    """Mean of ``values`` and its percentile bootstrap 95% interval.

    Args:
        values: one number per image (NaN and None are left out).
        samples: bootstrap resamples ``B``.
        seed: seeds ``numpy.random.default_rng``; the same values and seed give the same interval.

    Returns:
        ``{"mean", "low", "high", "n"}``; ``low`` and ``high`` are None with fewer than 2 values, all None with none.
    """
    vals = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    n = int(vals.size)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = float(vals.mean())
    if n < 2:
        return {"mean": round(mean, ROUND), "low": None, "high": None, "n": n}
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for start in range(0, samples, 256):  # 256 resamples at a time: memory stays n x 256
        stop = min(samples, start + 256)
        means[start:stop] = vals[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"mean": round(mean, ROUND), "low": round(float(low), ROUND), "high": round(float(high), ROUND), "n": n}


def method_summary(rows: list[ImageScores], method: str, samples: int, seed: int) -> dict:
    """One method's mean deletion and insertion AUC, and its shares of images beating the random map."""
    def values(attr: str) -> list[float]:
        return [float(getattr(r, attr)[method]) for r in rows if method in getattr(r, attr)]

    return {"method": method,
            "deletion_auc": bootstrap_mean(values("deletion"), samples, seed),
            "insertion_auc": bootstrap_mean(values("insertion"), samples, seed),
            "beats_random_deletion": bootstrap_mean(values("beats_random_deletion"), samples, seed),
            "beats_random_insertion": bootstrap_mean(values("beats_random_insertion"), samples, seed)}


def accuracy(rows: list[ImageScores], samples: int, seed: int) -> dict:
    """Top-1 accuracy over the labelled images, with its interval (``correct``: the count)."""
    labelled = [float(r.correct) for r in rows if r.correct is not None]
    return {**bootstrap_mean(labelled, samples, seed), "correct": int(sum(labelled))}


def per_class(rows: list[ImageScores], methods: list[str], samples: int, seed: int) -> list[dict]:
    """Per labelled class (sorted by name): its images, accuracy and each method's mean AUCs with intervals."""
    groups: dict[str, list[ImageScores]] = {}
    for r in rows:
        if r.true_class is not None:
            groups.setdefault(r.true_class, []).append(r)
    table = []
    for name in sorted(groups):
        members = groups[name]
        table.append({"class": name, "images": len(members), "ids": [r.id for r in members],
                      "accuracy": accuracy(members, samples, seed),
                      "methods": {m: method_summary(members, m, samples, seed) for m in methods}})
    return table


def disagree_most(rows: list[ImageScores], limit: int = SHORT_LIST) -> list[dict]:
    """Images with the lowest mean pixel-level Spearman over all pairs of methods (ties by id)."""
    found = [{"id": r.id, "title": r.title, "spearman": round(float(np.mean(list(r.spearman.values()))), ROUND)}
             for r in rows if r.spearman]
    return sorted(found, key=lambda f: (f["spearman"], f["id"]))[:limit]


def least_faithful(rows: list[ImageScores], methods: list[str], limit: int = SHORT_LIST) -> list[dict]:
    """Maps with the smallest insertion AUC minus deletion AUC (a faithful map scores high on both tests)."""
    found = [{"id": r.id, "title": r.title, "method": m, "deletion_auc": r.deletion[m], "insertion_auc": r.insertion[m],
              "difference": round(r.insertion[m] - r.deletion[m], ROUND)}
             for r in rows for m in methods if m in r.deletion and m in r.insertion]
    return sorted(found, key=lambda f: (f["difference"], f["id"], f["method"]))[:limit]


def wrong_predictions(rows: list[ImageScores], limit: int = SHORT_LIST) -> list[dict]:
    """Misread images, the most confident first (ties by id)."""
    found = [{"id": r.id, "title": r.title, "true_class": r.true_class, "predicted": r.predicted,
              "probability": r.probability} for r in rows if r.correct is False]
    return sorted(found, key=lambda f: (-f["probability"], f["id"]))[:limit]


def summary(rows: list[ImageScores], methods: list[str], samples: int, seed: int) -> dict:
    """The ``attribution.dataset`` section of ``results.json``."""
    pairs = [{"a": a, "b": b,
              "spearman": bootstrap_mean([r.spearman[(a, b)] for r in rows if (a, b) in r.spearman], samples, seed)}
             for a, b in combinations(methods, 2)]
    return {
        "bootstrap": {"samples": samples, "seed": seed, "confidence": CONFIDENCE, "kind": "percentile"},
        "images": len(rows),
        "accuracy": accuracy(rows, samples, seed),
        "methods": [method_summary(rows, m, samples, seed) for m in methods],
        "agreement": pairs,
        "classes": per_class(rows, methods, samples, seed),
        "disagree_most": disagree_most(rows),
        "least_faithful": least_faithful(rows, methods),
        "wrong": wrong_predictions(rows),
        "wrong_total": sum(r.correct is False for r in rows),
    }
