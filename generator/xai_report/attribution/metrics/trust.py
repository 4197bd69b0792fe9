"""The data of "Which method to trust": the registry's metrics over the images (``attribution.trust``).

From the image records' scores (``images[].scores``, metric -> method -> value) and the randomised twin's
(``images[].randomised_scores``):

* **Standing**: per metric and method, the mean over the images with its percentile-bootstrap 95% interval
  (:func:`.dataset_level.bootstrap_mean`, seeded with the study's seed), and each method's rank per metric: 1 +
  the number of methods whose interval lies entirely on the better side of its own (by the metric's direction), so
  methods whose intervals overlap share a rank.
* **Agreement**: Kendall's tau (:func:`scipy.stats.kendalltau`, tau-b) between the method rankings two metrics give
  on one image (each metric's values oriented so that higher is better), then averaged over the images where both
  rank at least two methods and the tau is defined: tau per image averaged, with its bootstrap interval (LATEC,
  Klein et al. 2024, rank the means instead; on one reviewer's images the per-image tau also says where they
  disagree).
* **Disagreement**: per image, the mean tau over every pair of metrics; the lowest first.
* **Sanity** (in the spirit of MetaQuantus, Hedstroem et al., TMLR 2023): per metric, the oriented difference
  between the trained model's score and the randomised twin's, per image and method, averaged with its interval; a
  metric whose interval does not lie above 0 cannot tell the trained model's maps from the twin's and is flagged.
* **Curves**: per metric that returns curves (the cascading randomisation's), each method's mean curve.
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations
from typing import Mapping

import numpy as np
from scipy.stats import kendalltau

from ...numbers import rounded
from ..dataset_level import CONFIDENCE, SHORT_LIST, bootstrap_mean

Values = Mapping[str, Mapping[str, "float | None"]]
"""One image's scores: metric -> method -> value (None: not scored)."""


def values_of(scores: Mapping[str, Mapping[str, Mapping]]) -> dict[str, dict[str, float | None]]:
    """An image record's ``scores`` as :data:`Values`."""
    return {metric: {m: entry["value"] for m, entry in per.items()} for metric, per in scores.items()}


def oriented(value: float, higher_is_better: bool) -> float:
    """``value`` with the sign that makes higher better."""
    return value if higher_is_better else -value


def ranks(intervals: Mapping[str, dict], higher_is_better: bool) -> dict[str, int | None]:
    """Rank 1 + the methods whose interval lies wholly on the better side of each method's (None: no mean)."""
    def bounds(iv: dict) -> tuple[float, float] | None:
        if iv["mean"] is None:
            return None
        low = iv["low"] if iv["low"] is not None else iv["mean"]
        high = iv["high"] if iv["high"] is not None else iv["mean"]
        return (low, high) if higher_is_better else (-high, -low)

    found = {m: bounds(iv) for m, iv in intervals.items()}
    return {m: None if b is None else 1 + sum(o is not None and o[0] > b[1] for o in found.values())
            for m, b in found.items()}


def image_taus(values: Values, directions: Mapping[str, bool], methods: list[str]) -> dict[tuple[str, str], float]:
    """Kendall's tau between every pair of metrics' method rankings on one image, where defined."""
    out = {}
    for a, b in combinations([m for m in directions if m in values], 2):
        common = [m for m in methods if values[a].get(m) is not None and values[b].get(m) is not None]
        if len(common) < 2:
            continue
        tau = kendalltau([oriented(values[a][m], directions[a]) for m in common],
                         [oriented(values[b][m], directions[b]) for m in common]).statistic
        if not math.isnan(tau):
            out[(a, b)] = float(tau)
    return out


def summary(records: list[dict], catalogue: list[dict], methods: list[str], samples: int, seed: int) -> dict:
    """The ``attribution.trust`` section from the image records (``id``, ``title``, ``scores`` and, with the twin,
    ``randomised_scores``), the metrics' ``catalogue`` and the study's ``methods``."""
    images = [(r["id"], r["title"], values_of(r.get("scores") or {}),
               values_of(r["randomised_scores"]) if r.get("randomised_scores") else None) for r in records]
    directions = {c["name"]: c["higher_is_better"] for c in catalogue}
    standing = []
    for metric, higher in directions.items():
        intervals = {m: bootstrap_mean([v[metric].get(m) for _, _, v, _ in images if metric in v], samples, seed)
                     for m in methods}
        rank = ranks(intervals, higher)
        standing.append({"metric": metric, "higher_is_better": higher,
                         "methods": {m: {**intervals[m], "rank": rank[m]} for m in methods}})
    per_image = [(i, t, image_taus(v, directions, methods)) for i, t, v, _ in images]
    pairs = [{"a": a, "b": b, "tau": bootstrap_mean([taus[(a, b)] for _, _, taus in per_image if (a, b) in taus],
                                                    samples, seed)}
             for a, b in combinations(directions, 2)]
    disagree = sorted(({"id": i, "title": t, "mean_tau": rounded(float(np.mean(list(taus.values()))))}
                       for i, t, taus in per_image if taus), key=lambda d: (d["mean_tau"], d["id"]))[:SHORT_LIST]
    return {"bootstrap": {"samples": samples, "seed": seed, "confidence": CONFIDENCE, "kind": "percentile"},
            "aggregation": "tau per image, averaged over the images", "standing": standing, "agreement": pairs,
            "disagree_most": disagree, "sanity": _sanity(images, directions, methods, samples, seed),
            "curves": curves([r.get("scores") or {} for r in records])}


def _sanity(images: list[tuple[str, str, Values, Values | None]], directions: Mapping[str, bool], methods: list[str],
            samples: int, seed: int) -> list[dict]:
    """Per metric: the trained-minus-twin oriented difference over (image, method), and whether it is flagged."""
    out = []
    for metric, higher in directions.items():
        diffs = {m: [] for m in methods}
        for _, _, trained, twin in images:
            if twin is None or metric not in twin or metric not in trained:
                continue
            for m, theirs in twin[metric].items():
                ours = trained[metric].get(m)
                if ours is not None and theirs is not None:
                    diffs[m].append(oriented(ours, higher) - oriented(theirs, higher))
        pooled = [d for m in methods for d in diffs[m]]
        if not pooled:
            continue
        difference = bootstrap_mean(pooled, samples, seed)
        out.append({"metric": metric, "difference": difference,
                    "flagged": difference["low"] is None or difference["low"] <= 0,
                    "methods": {m: bootstrap_mean(diffs[m], samples, seed) for m in methods if diffs[m]}})
    return out


def curves(images: list[Mapping[str, Mapping[str, Mapping]]]) -> dict[str, dict[str, list[float | None]]]:
    """Per metric with curves, each method's mean curve over the images whose curve has the most common length."""
    found: dict[str, dict[str, list[list]]] = {}
    for scores in images:
        for metric, per in scores.items():
            for m, entry in per.items():
                if entry.get("curve"):
                    found.setdefault(metric, {}).setdefault(m, []).append(entry["curve"])
    out: dict[str, dict[str, list[float | None]]] = {}
    for metric, per in found.items():
        out[metric] = {}
        for m, all_curves in per.items():
            lengths = [len(c) for c in all_curves]
            size = max(set(lengths), key=lambda n: (lengths.count(n), n))
            stack = np.array([[np.nan if v is None else v for v in c] for c in all_curves if len(c) == size], float)
            with warnings.catch_warnings():  # a point no image has is nan, then null
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(stack, axis=0)
            out[metric][m] = [rounded(float(v)) if math.isfinite(v) else None for v in mean]
    return out
