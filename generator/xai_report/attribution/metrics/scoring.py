"""What runs inside a metric score's computation besides the metric itself (:mod:`.scores` keys it): its own module,
so that a score's cache key holds the metric's code and this, not the explainers' or the overlays' libraries."""

from __future__ import annotations

from typing import Callable

from ...cache import Computed
from .base import MetricInput, Score


def scored(compute: Callable, inputs: MetricInput, params, seed: int, found: dict, method: str) -> Computed:
    """Run a metric's ``compute`` on every method of ``inputs`` (their scores go into ``found``), and return
    ``method``'s as an artifact's (meta, files)."""
    found.update(compute(inputs, params, seed))
    return stored(found.get(method) or Score.absent("the metric gave no score for this method"))


def stored(score: Score) -> Computed:
    """A score as an artifact's (meta, files)."""
    return {"kind": "metric_score", "value": score.value, "reason": score.reason,
            "curve": None if score.curve is None else list(score.curve)}, {}
