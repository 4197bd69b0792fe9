"""The "Which method to trust" page and the image pages' metric tables: their context, made from the typed records
(``attribution.trust``, ``attribution.metric_catalogue``, ``images[].scores``); the template only formats it.

The context is typed (:class:`TrustView`), so that a richer page (figures, sorting, the home page's picture) can be
built on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from ..records import AttributionSection, MetricInfo, Trust
from ..records.dataset import Interval
from ..records.scores import RankedInterval, Sanity, Scores
from . import attribution_text
from .pages import Page

PAGE = "attribution/trust.md"


@dataclass(frozen=True)
class TrustView:
    """What the page shows: the metrics (catalogue order), the methods (study order, with titles) and the numbers."""

    trust: Trust
    metrics: list[MetricInfo]
    methods: list[tuple[str, str]]
    """(name, title) per method."""
    cells: dict[str, dict[str, RankedInterval]]
    """Metric -> method -> mean, interval and rank."""
    tau: dict[str, dict[str, Optional[Interval]]]
    """Metric -> metric -> their mean Kendall tau (None on the diagonal and where no image ranks both)."""
    sanity: dict[str, Sanity]
    sentences: dict[str, str]
    """The page's sentences (:mod:`.attribution_text`)."""


def view(section: AttributionSection) -> TrustView:
    """The page's context from the attribution section (which has ``trust`` and ``metric_catalogue``)."""
    trust, metrics = section.trust, section.metric_catalogue or []
    titles = section.titles()
    tau: dict[str, dict[str, Optional[Interval]]] = {a.name: {b.name: None for b in metrics} for a in metrics}
    for pair in trust.agreement:
        if pair.tau.mean is not None:
            tau[pair.a][pair.b] = tau[pair.b][pair.a] = pair.tau
    sanity = {s.metric: s for s in trust.sanity}
    metric_titles = {m.name: m.title for m in metrics}
    return TrustView(trust, list(metrics), [(m.name, titles[m.name]) for m in section.methods],
                     {s.metric: s.methods for s in trust.standing}, tau, sanity,
                     {"aggregation": attribution_text.tau_aggregation(trust.aggregation),
                      "sanity": attribution_text.sanity_verdict(trust.sanity, metric_titles)})


def pages(section: AttributionSection, common: dict) -> Iterator[Page]:
    """The trust page, when the study ran registry metrics."""
    if section.trust is not None:
        yield Page(PAGE, "trust.md.j2", {**common, "view": view(section)})


@dataclass(frozen=True)
class ScoreCell:
    """One metric's number beside one map on an image page: the value, or none and the number of the note why."""

    value: Optional[float]
    note: Optional[int] = None


@dataclass(frozen=True)
class ScoreTable:
    """An image page's metric table: method -> one cell per metric (catalogue order), and the notes (1, 2, ...)."""

    cells: dict[str, list[ScoreCell]]
    notes: list[str]


NOT_SCORED = "the metric did not score this method on this image"


def image_scores(scores: Optional[Scores], metrics: list[MetricInfo]) -> Optional[ScoreTable]:
    """The image page's table (None when the image has no scores); each distinct reason is one note."""
    if not scores:
        return None
    notes: list[str] = []
    methods = list(dict.fromkeys(m for per in scores.values() for m in per))
    cells: dict[str, list[ScoreCell]] = {m: [] for m in methods}
    for metric in metrics:
        per = scores.get(metric.name, {})
        for method in methods:
            score = per.get(method)
            if score is not None and score.value is not None:
                cells[method].append(ScoreCell(score.value))
                continue
            reason = score.reason if score is not None and score.reason else NOT_SCORED
            if reason not in notes:
                notes.append(reason)
            cells[method].append(ScoreCell(None, notes.index(reason) + 1))
    return ScoreTable(cells, notes)
