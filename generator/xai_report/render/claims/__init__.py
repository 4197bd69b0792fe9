"""The Claims page: every claim of the study's claims file with its quote, subject, measurement, rule, numbers
and verdict, computed by the rule engine (:mod:`.engine`) from ``results.json``; and the home page's count.

``claim_verdicts(study, results)`` is what render passes to every template (None without a claims file);
``claims_pages(tested)`` is the page producer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from ...config import Study
from ...config.claims import ClaimsFile, load_claims
from ...records import AttributionSection, Results
from ...text import slugify
from ..pages import Page
from . import attribution_rules, dissection_rules  # noqa: F401  (they fill the registry)
from .engine import RULES, SUPPORTED, CONTRADICTED, UNTESTABLE, Judged, counts, judge_all

PAGE = "claims/index.md"
ICONS = {SUPPORTED: "supported", CONTRADICTED: "contradicted", UNTESTABLE: "not testable here"}


def _evidence(path: str, results: Results) -> str:
    """``path`` when this build writes that page (so the link is never broken), else ''."""
    att, dis = results.attribution, results.dissection
    written = {"index.md", "dissection/index.md", "methodology/index.md"}
    if att:
        written |= {"attribution/index.md", "attribution/gallery.md"}
        written |= {f"attribution/images/{r.id}.md" for r in att.images}
        if att.comparison:
            written.add("attribution/comparison.md")
    if dis and dis.comparisons:
        written.add("dissection/compare.md")
    for model in dis.models if dis else []:
        written.add(f"dissection/{slugify(str(model.slug)).lower()}/index.md")
    return path if path.split("#")[0] in written else ""


SHORT = 90
"""Characters of a quote shown as its heading."""


def _short(quote: str) -> str:
    return quote if len(quote) <= SHORT else quote[: SHORT - 1].rsplit(" ", 1)[0] + " ..."


def _capital(text: str) -> str:
    """A sentence as the page shows it: its first letter capitalised (image titles start lower-case)."""
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class ClaimRow:
    """One claim as the Claims page shows it: its words, subject, rule, numbers and verdict."""

    number: int
    id: str
    """The row's anchor (``claim-<id>``)."""
    short: str
    topic: str
    quote: str
    verdict: str
    models: list[str]
    layer: Optional[str]
    methods: list[str]
    method_titles: list[str]
    images: list[str]
    """The named images' titles."""
    measurement: str
    rule: str
    numbers: list[str]
    reason: str
    notes: list[str]
    why: str
    evidence: str
    """The evidence page when this build writes it, else ''."""


@dataclass(frozen=True)
class ClaimNote:
    """An observation of the claims file about one image."""

    image: str
    title: str
    text: str
    page: str


@dataclass(frozen=True)
class Topic:
    name: str
    rows: list[ClaimRow]


@dataclass(frozen=True)
class ClaimVerdicts:
    """Everything the Claims page and the home page's count show."""

    title: str
    source: str
    note: str
    counts: dict[str, int]
    topics: list[Topic]
    roles: dict[str, str]
    """How the page names each model role."""
    notes: list[ClaimNote]
    page: str
    page_notes: list[str]


def _row(number: int, j: Judged, results: Results, titles: dict[str, str], method_titles: dict[str, str]) -> ClaimRow:
    c = j.claim
    return ClaimRow(
        number=number, id="claim-" + slugify(c.id).lower(), short=_short(c.quote), topic=c.topic, quote=c.quote,
        verdict=j.verdict, models=c.models, layer=c.layer, methods=c.methods,
        method_titles=[method_titles.get(m, m) for m in c.methods],
        images=[titles.get(i, i) for i in c.images], measurement=j.measurement, rule=j.rule,
        numbers=[_capital(n) for n in j.numbers], reason=_capital(j.reason), notes=j.notes, why=c.why,
        evidence=_evidence(c.evidence, results),
    )


def _role_names(claims: ClaimsFile, att: AttributionSection | None) -> dict[str, str]:
    """How the page names each model role: the write-up's explained model as the model this study explains."""
    names = {}
    for role, spec in claims.models.items():
        model = att.model if att and spec.attribution else None
        if model and spec.weights and not model.weights_id.startswith(spec.weights):
            names[role] = f"{model.description} (the write-up: {spec.label})"
        else:
            names[role] = spec.label
    return names


def claim_verdicts(study: Study, results: Results) -> ClaimVerdicts | None:
    """The claims of the study's claims file judged against ``results`` (None when it names no file)."""
    if not study.claims:
        return None
    claims = load_claims(Path(study.claims))
    judged = judge_all(claims, results)
    att = results.attribution
    titles = {r.id: r.title for r in att.images} if att else {}
    method_titles = att.titles() if att else {}
    topics = list(dict.fromkeys(j.claim.topic for j in judged))
    ordered = sorted(judged, key=lambda j: topics.index(j.claim.topic))  # numbered in the order the page shows them
    rows = [_row(number, j, results, titles, method_titles) for number, j in enumerate(ordered, start=1)]
    notes = [ClaimNote(n.image, _capital(titles.get(n.image, n.image)), n.text,
                       _evidence(f"attribution/images/{n.image}.md", results)) for n in claims.notes]
    return ClaimVerdicts(title=claims.title, source=claims.source, note=claims.note, counts=counts(judged),
                        topics=[Topic(t, [r for r in rows if r.topic == t]) for t in topics],
                        roles=_role_names(claims, att), notes=notes, page=PAGE,
                        page_notes=list(dict.fromkeys(j.tested_on for j in judged if j.tested_on)))


def claims_pages(tested: ClaimVerdicts | None) -> Callable[[Results, dict], Iterator[Page]]:
    """The page producer: the Claims page when the study has a claims file."""
    def produce(results: Results, timings: dict) -> Iterator[Page]:
        if tested is not None:
            yield Page(PAGE, "claims.md.j2", {"tested": tested, "verdict_names": ICONS})
    return produce


__all__ = ["RULES", "ClaimRow", "ClaimVerdicts", "claim_verdicts", "claims_pages"]
