"""The rule engine: every claim of a claims file (:mod:`xai_report.config.claims`) judged from
``results.json`` alone, as supported, contradicted or not testable here (with the reason).

Each test kind is one :class:`Rule` in :data:`RULES` (filled by :mod:`.attribution_rules` and
:mod:`.dissection_rules`): ``describe`` words the rule from the test's parameters (so the page states the
rule exactly as it is applied, fixed before any number), ``judge`` reads the numbers and returns an
:class:`Outcome`, or raises :class:`Untestable` with the reason. Nothing here computes a measure: the numbers
were made by the stages; this only compares them with the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...config.claims import Claim, ClaimsFile
from ...records import AttributionSection, DissectedModel, DissectionSection, ImageRecord, Results

SUPPORTED, CONTRADICTED, UNTESTABLE = "supported", "contradicted", "not testable here"
VERDICTS = (SUPPORTED, CONTRADICTED, UNTESTABLE)


class Untestable(Exception):
    """This study's results cannot decide the claim; the message says why."""


@dataclass
class Outcome:
    holds: bool
    numbers: list[str]
    """The numbers the verdict rests on, as sentences."""


@dataclass
class Context:
    """What the rules read: the results and the claims file's model roles."""

    results: Results
    claims: ClaimsFile

    @property
    def att(self) -> AttributionSection:
        section = self.results.attribution
        if not section:
            raise Untestable("this study runs no attribution")
        return section

    @property
    def dis(self) -> DissectionSection:
        section = self.results.dissection
        if not section:
            raise Untestable("this study runs no dissection")
        return section

    def label(self, role: str) -> str:
        return self.claims.models[role].label

    def dissected(self, role: str) -> DissectedModel:
        """The dissected model that plays ``role`` (matched by its weights id), or Untestable."""
        spec = self.claims.models[role]
        models = self.dis.models
        for model in models:
            if spec.weights and model.weights_id.startswith(spec.weights):
                return model
        have = ", ".join(m.label for m in models) or "none"
        raise Untestable(f"this study does not dissect the write-up's {spec.label} (it dissects {have})")

    def title(self, method: str) -> str:
        return self.att.titles().get(method, method)

    def require_methods(self, methods: list[str]) -> None:
        names = [m.name for m in self.att.methods]
        for method in methods:
            if method not in names:
                raise Untestable(f"{method} is not among this study's methods ({', '.join(names)})")

    def images(self, ids: list[str]) -> list[ImageRecord]:
        """The image records of these page ids (all when there are none), or Untestable naming a missing one."""
        records = self.att.images
        if not ids:
            return records
        by_id = {r.id: r for r in records}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise Untestable(f"image {missing[0]} is not among this study's explained images")
        return [by_id[i] for i in ids]


@dataclass(frozen=True)
class Rule:
    measurement: Callable[[Claim, Any, Context], str]
    describe: Callable[[Claim, Any, Context], str]
    judge: Callable[[Claim, Any, Context], Outcome]


RULES: dict[str, Rule] = {}
"""Test kind -> its rule (see the module docstring)."""


@dataclass
class Judged:
    """One claim with everything its row on the page shows."""

    claim: Claim
    verdict: str
    measurement: str
    rule: str
    numbers: list[str] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    tested_on: str = ""
    """Set when the claim is about a model the study replaced (see :func:`model_notes`)."""


def _safe(call: Callable[[], str], fallback: str) -> str:
    try:
        return call()
    except Untestable:
        return fallback


def judge(claim: Claim, ctx: Context) -> Judged:
    """The verdict on one claim (the rule's wording does not need the results, so it is shown either way)."""
    rule = RULES[claim.test.kind]
    measurement = _safe(lambda: rule.measurement(claim, claim.test, ctx), "")
    wording = _safe(lambda: rule.describe(claim, claim.test, ctx), "")
    tested_on, notes = model_notes(claim, ctx)
    try:
        found = rule.judge(claim, claim.test, ctx)
    except Untestable as why:
        return Judged(claim, UNTESTABLE, measurement, wording, reason=str(why), notes=notes, tested_on=tested_on)
    return Judged(claim, SUPPORTED if found.holds else CONTRADICTED, measurement, wording, found.numbers,
                  notes=notes, tested_on=tested_on)


def model_notes(claim: Claim, ctx: Context) -> tuple[str, list[str]]:
    """("tested on X, not the write-up's Y" when a claim about the explained model runs on another one, or '';
    other notes, such as another layer than the write-up's)."""
    section, tested_on, notes = ctx.results.attribution, "", []
    for role in claim.models:
        spec = ctx.claims.models[role]
        if not (spec.attribution and section):
            continue
        if spec.weights and not section.model.weights_id.startswith(spec.weights):
            tested_on = (f"The attribution claims are about the write-up's {spec.label}; this study explains "
                         f"{section.model.description}, so their verdicts are about that model.")
        if claim.layer and claim.layer != section.model.layer:
            notes.append(f"Layer {section.model.layer} here; the write-up used {claim.layer}.")
    return tested_on, notes


def judge_all(claims: ClaimsFile, results: Results) -> list[Judged]:
    ctx = Context(results, claims)
    return [judge(claim, ctx) for claim in claims.claims]


def counts(judged: list[Judged]) -> dict[str, int]:
    """How many claims got each verdict (and ``total``)."""
    found = {v: sum(1 for j in judged if j.verdict == v) for v in VERDICTS}
    return {"total": len(judged), **found}


# -- small helpers the rules share ------------------------------------------------------------

def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def joined(items: list[str], last: str = "and") -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"
