"""The Findings page across the dataset: its figures (each metric's distribution per method, the beats-random
shares with their intervals) and "look here first" as small pictures of the photo and its maps, each linking to
the image page. Made from the typed records; the template only formats it.

At a thousand images the page stays light: two figures for the whole dataset and a few cards of thumbnails
(a large study's :func:`.scale_site.picture` thumbnails).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..records import AttributionSection, ImageRecord
from . import metric_plots, scale_site
from .markdown import pct
from .metric_plots import Panel
from .pages import Asset, Page

PAGE = "attribution/findings.md"
FIGURES = {"distributions": "assets/figures/findings_distributions.png",
           "distributions_narrow": "assets/figures/findings_distributions_narrow.png",
           "beats_random": "assets/figures/findings_beats_random.png",
           "beats_random_narrow": "assets/figures/findings_beats_random_narrow.png"}
"""Site paths of the page's figures, each with a one-panel-a-row copy for narrow screens."""


@dataclass(frozen=True)
class Picture:
    caption: str
    src: str
    """Site path under ``assets/``."""
    target: str
    """What it shows on the image page (``photo`` or a method): the link goes to ``#map-<target>``."""


@dataclass(frozen=True)
class Look:
    """One image worth a look: its page, title, why (a sentence) and its photo and maps."""

    id: str
    title: str
    why: str
    pictures: list[Picture]


@dataclass(frozen=True)
class LookGroup:
    """One list of "look here first": its heading, what orders it, and its cards (none: the group is left out)."""

    heading: str
    why: str
    cards: list[Look]


def _pictures(record: ImageRecord, methods: list[str], titles: dict[str, str], large: bool) -> list[Picture]:
    shown = [Picture("photo", scale_site.picture(record, "photo", large), "photo")]
    return shown + [Picture(titles[m], scale_site.picture(record, m, large), m)
                    for m in methods if m in record.methods]


def look_here_first(section: AttributionSection) -> list[LookGroup]:
    """The dataset findings' pointers (methods disagree most, least faithful maps, wrong predictions) as cards."""
    d, titles, large = section.dataset, section.titles(), scale_site.is_large(section)
    records = {r.id: r for r in section.images}
    every = [m.name for m in section.methods]

    def card(image_id: str, title: str, why: str, methods: list[str]) -> list[Look]:
        record = records.get(image_id)
        return [Look(image_id, title, why, _pictures(record, methods, titles, large))] if record else []

    groups = [
        LookGroup("Where the methods disagree most", "Lowest mean Spearman between the maps.",
                  [c for f in d.disagree_most
                   for c in card(f.id, f.title, f"mean Spearman between the maps {f.spearman:.2f}", every)]),
        LookGroup("The least faithful maps", "Lowest insertion minus deletion AUC.",
                  [c for f in d.least_faithful for c in card(
                      f.id, f.title, f"{titles[f.method]}: insertion minus deletion AUC {f.difference:.2f}", [f.method])]),
        LookGroup("Wrong predictions", f"{d.wrong_total} in all; the most confident first.",
                  [c for f in d.wrong for c in card(
                      f.id, f.title, f"predicted {f.predicted} ({pct(f.probability)}); true: {f.true_class}", every)])]
    return [g for g in groups if g.cards]


def _distribution_panels(section: AttributionSection) -> list[tuple[str, bool, dict[str, list[float]]]]:
    titles = section.titles()
    methods = [m.name for m in section.methods]
    deletion = {titles[m]: [] for m in methods}
    insertion = {titles[m]: [] for m in methods}
    for record in section.images:
        if record.metrics is None:
            continue
        for m, res in record.metrics.faithfulness.methods.items():
            deletion[titles[m]].append(res.deletion_auc)
            insertion[titles[m]].append(res.insertion_auc)
    panels = []
    if any(deletion.values()):
        panels += [("Faithfulness: deletion AUC", False, deletion), ("Faithfulness: insertion AUC", True, insertion)]
    for metric in metric_plots.family_order(section.metric_catalogue or []):
        values = {titles[m]: [] for m in methods}
        for record in section.images:
            for m, score in (record.scores or {}).get(metric.name, {}).items():
                if score.value is not None and m in titles:
                    values[titles[m]].append(score.value)
        if any(values.values()):
            panels.append((f"{metric.family.capitalize()}: {metric.title}", metric.higher_is_better, values))
    return panels


def pages(section: AttributionSection, common: dict) -> Iterator[Page | Asset]:
    """The Findings page and its figures (studies with dataset findings)."""
    d = section.dataset
    if d is None:
        return
    titles = section.titles()
    panels = _distribution_panels(section)
    shown = {}
    if panels:
        shown.update(distributions=FIGURES["distributions"], distributions_narrow=FIGURES["distributions_narrow"])
        yield Asset(FIGURES["distributions"], lambda: metric_plots.distributions(panels))
        yield Asset(FIGURES["distributions_narrow"], lambda: metric_plots.distributions(panels, metric_plots.NARROW))
    if d.methods:
        shares = [Panel(f"Beats a random map, {kind}", True,
                        [(titles[r.method], getattr(r, f"beats_random_{kind}")) for r in d.methods], percent=True)
                  for kind in ("deletion", "insertion")]
        shown.update(beats_random=FIGURES["beats_random"], beats_random_narrow=FIGURES["beats_random_narrow"])
        yield Asset(FIGURES["beats_random"], lambda: metric_plots.forest(shares, reference=50.0))
        yield Asset(FIGURES["beats_random_narrow"], lambda: metric_plots.forest(shares, 50.0, metric_plots.NARROW))
    yield Page(PAGE, "findings.md.j2", {**common, "figures": shown, "look": look_here_first(section)})
