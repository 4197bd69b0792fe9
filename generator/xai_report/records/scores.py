"""The registry metrics' records: one score per image, metric and method (``images[].scores``), the metrics'
catalogue (``attribution.metric_catalogue``) and "Which method to trust" (``attribution.trust``,
:mod:`xai_report.attribution.metrics.trust`)."""

from __future__ import annotations

from typing import Any, Optional

from .base import Number, Record
from .dataset import Bootstrap, Interval


class MetricScore(Record):
    """One method's score on one metric: ``value``, or null and ``reason`` (a nan or inf is never a value)."""

    value: Optional[float]
    reason: Optional[str] = None
    """Why there is no value (the method is not re-run, the image has no boxes, the metric gave nan, ...)."""
    curve: Optional[list[Optional[float]]] = None
    """The values the score summarises, when it summarises a curve (null: a point that was not finite)."""


Scores = dict[str, dict[str, MetricScore]]
"""Metric -> method -> its score."""


class MetricInfo(Record):
    """What a metric is, for the pages."""

    name: str
    """The Quantus class in snake_case."""
    title: str
    family: str
    citation: str
    higher_is_better: bool
    params: dict[str, Any]
    """Its validated ``[metrics.<name>]`` parameters."""
    needs: list[str]
    forward_passes: Number
    backward_passes: Number
    """Model passes per method and image."""


class RankedInterval(Interval):
    rank: Optional[int]
    """1 + the methods whose interval lies wholly on the better side (overlapping intervals share a rank)."""


class Standing(Record):
    """One metric's mean per method over the images, with intervals and ranks."""

    metric: str
    higher_is_better: bool
    methods: dict[str, RankedInterval]


class MetricPair(Record):
    a: str
    b: str
    tau: Interval
    """Kendall's tau between the two metrics' method rankings, per image, averaged over the images."""


class Disagreement(Record):
    id: str
    title: str
    mean_tau: float
    """The mean over every pair of metrics of their Kendall tau on this image."""


class Sanity(Record):
    """Does the metric score the trained model's maps better than the randomised twin's?"""

    metric: str
    difference: Interval
    """Trained minus twin, oriented so that positive means the trained model's maps score better."""
    flagged: bool
    """True when the difference's interval does not lie above 0: the metric cannot tell them apart."""
    methods: dict[str, Interval]


class Trust(Record):
    """The data of the "Which method to trust" page."""

    bootstrap: Bootstrap
    """How the intervals were drawn."""
    aggregation: str
    """How the per-image Kendall taus are aggregated."""
    standing: list[Standing]
    agreement: list[MetricPair]
    disagree_most: list[Disagreement]
    sanity: list[Sanity]
    curves: dict[str, dict[str, list[Optional[float]]]]
    """Metric -> method -> its mean curve over the images (metrics that give curves: the cascading randomisation)."""
