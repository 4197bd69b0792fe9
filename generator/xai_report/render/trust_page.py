"""The "Which method to trust" page and the image pages' metric tables: their context, made from the typed records
(``attribution.trust``, ``attribution.metric_catalogue``, ``images[].scores``); the template only formats it.

The context is typed (:class:`TrustView`); the figures (:mod:`.metric_plots`) are drawn from it, and the home page
shows its ``standing`` figure and its verdict lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from ..records import AttributionSection, MetricInfo, Trust
from ..records.dataset import Interval
from ..records.scores import RankedInterval, Sanity, Scores
from . import attribution_text, metric_plots, plots, scale_site
from .pages import Asset, Page

PAGE = "attribution/trust.md"
FIGURES = {"standing": "assets/figures/trust_standing.png", "standing_narrow": "assets/figures/trust_standing_narrow.png",
           "agreement": "assets/figures/trust_agreement.png",
           "sanity": "assets/figures/trust_sanity.png", "curves": "assets/figures/trust_curves.png"}
"""Site paths of the page's figures (the home page shows ``standing`` too)."""


@dataclass(frozen=True)
class Thumb:
    """An image the page points to: its page (docs path from ``attribution/``), title, small photo and a number."""

    id: str
    title: str
    photo: str
    """Site path under ``assets/``."""
    value: float


@dataclass(frozen=True)
class TrustView:
    """What the page shows: the metrics (catalogue order; the figures group them by family), the methods (study
    order, with titles) and the numbers."""

    trust: Trust
    metrics: list[MetricInfo]
    methods: list[tuple[str, str]]
    """(name, title) per method."""
    cells: dict[str, dict[str, RankedInterval]]
    """Metric -> method -> mean, interval and rank."""
    tau: dict[str, dict[str, Optional[Interval]]]
    """Metric -> metric -> their mean Kendall tau (None on the diagonal and where no image ranks both)."""
    sanity: dict[str, Sanity]
    disagree: list[Thumb]
    figures: dict[str, str]
    """The figures this study has (a key of :data:`FIGURES` -> its site path)."""
    sentences: dict[str, str]
    """The page's sentences (:mod:`.attribution_text`)."""
    verdict: list[str]
    """Per metric family, which methods rank first (the home page's lines under the figure)."""

    def cell(self, metric: str, method: str) -> Optional[RankedInterval]:
        """``method``'s mean, interval and rank on ``metric``, or None when the metric scored it on no image."""
        return self.cells.get(metric, {}).get(method)


def view(section: AttributionSection) -> TrustView:
    """The page's context from the attribution section (which has ``trust`` and ``metric_catalogue``)."""
    trust = section.trust
    metrics = list(section.metric_catalogue or [])
    titles = section.titles()
    tau: dict[str, dict[str, Optional[Interval]]] = {a.name: {b.name: None for b in metrics} for a in metrics}
    for pair in trust.agreement:
        if pair.tau.mean is not None:
            tau[pair.a][pair.b] = tau[pair.b][pair.a] = pair.tau
    sanity = {s.metric: s for s in trust.sanity}
    metric_titles = {m.name: m.title for m in metrics}
    cells = {s.metric: s.methods for s in trust.standing}
    records = {r.id: r for r in section.images}
    large = scale_site.is_large(section)
    disagree = [Thumb(d.id, d.title, scale_site.picture(records[d.id], "photo", large), d.mean_tau)
                for d in trust.disagree_most if d.id in records]
    shown = {"standing": bool(cells), "standing_narrow": bool(cells), "agreement": len(metrics) > 1, "sanity": bool(sanity),
             "curves": any(trust.curves.values())}
    methods = [(m.name, titles[m.name]) for m in section.methods]
    return TrustView(trust, metrics, methods, cells, tau, sanity, disagree,
                     {k: FIGURES[k] for k, on in shown.items() if on},
                     {"aggregation": attribution_text.tau_aggregation(trust.aggregation),
                      "sanity": attribution_text.sanity_verdict(trust.sanity, metric_titles)},
                     attribution_text.family_leaders(metric_plots.family_order(metrics), cells, titles))


def figures(v: TrustView) -> Iterator[Asset]:
    """The page's figures (each drawn only from the view's numbers)."""
    titles = dict(v.methods)
    if "standing" in v.figures:
        yield Asset(FIGURES["standing"], lambda: metric_plots.standing(v.metrics, v.methods, v.cells))
        yield Asset(FIGURES["standing_narrow"], lambda: metric_plots.standing(v.metrics, v.methods, v.cells,
                                                                              columns=metric_plots.NARROW))
    if "agreement" in v.figures:
        means = {a: {b: (t.mean if t is not None else (1.0 if a == b else None)) for b, t in row.items()}
                 for a, row in v.tau.items()}
        yield Asset(FIGURES["agreement"], lambda: plots.agreement_matrix(
            means, {m.name: m.title for m in v.metrics}, label="mean Kendall tau"))
    if "sanity" in v.figures:
        rows = [(m.title, v.sanity[m.name].difference, v.sanity[m.name].flagged) for m in v.metrics if m.name in v.sanity]
        yield Asset(FIGURES["sanity"], lambda: metric_plots.sanity(rows))
    if "curves" in v.figures:
        per_method: dict[str, dict[str, list]] = {}
        for metric, per in v.trust.curves.items():
            for method, values in per.items():
                per_method.setdefault(titles.get(method, method), {})[metric] = values
        curve_titles = {m.name: m.title for m in v.metrics if m.name in v.trust.curves}
        yield Asset(FIGURES["curves"], lambda: metric_plots.curves(per_method, curve_titles))


def pages(section: AttributionSection, common: dict) -> Iterator[Page | Asset]:
    """The trust page and its figures, when the study ran registry metrics."""
    if section.trust is not None:
        v = view(section)
        yield from figures(v)
        yield Page(PAGE, "trust.md.j2", {**common, "view": v})


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
