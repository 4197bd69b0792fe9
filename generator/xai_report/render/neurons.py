"""The "neurons behind this prediction" section of an image page: labels joined from the dissection, and its
sentences. The numbers (each unit's contribution to the explained logit) come from the attribution stage
(``images[].neurons``); a unit's label comes from the dissection section when the same model and layer were
dissected, so the two halves of the study meet on the page without either stage knowing of the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..records import Neurons, Results
from .links import dissected_layers

CONCEPTS_SHOWN = 8
"""Concepts listed per image page, by their units' share of the positive evidence."""


@dataclass(frozen=True)
class UnitLabel:
    """A unit's dissection label as an image page shows it: the label, whether it is trusted, its score and the
    threshold of its layer."""

    label: str
    semantic: bool
    similarity: float
    threshold: float


def unit_labels(results: Results, model_key: str, layer: str) -> dict[int, UnitLabel]:
    """``{unit: UnitLabel}`` of ``layer`` of ``model_key`` from the dissection section ({} when that layer was not
    dissected)."""
    found = dissected_layers(results).get((model_key, layer))
    if found is None:
        return {}
    info = found[1]
    return {u.unit: UnitLabel(u.label, u.semantic, u.similarity, info.threshold) for u in info.units}


def concept_ancestors(results: Results) -> dict[str, list[str]]:
    """Each label's WordNet ancestors among the concepts (labels concept source only; {} otherwise)."""
    return (results.dissection.concepts.ancestors if results.dissection else None) or {}


@dataclass(frozen=True)
class ConceptGroup:
    """The units whose label is a concept or (labels source) lies below it in WordNet, on one image page."""

    concept: str
    units: int
    trusted: int
    """Units whose label clears the layer's tests."""
    share: float
    """Their part of the explained logit's positive evidence."""
    below: int
    """Units labelled with a concept below this one (not this one itself)."""


def concept_evidence(neurons: Neurons, labels: dict[int, UnitLabel], ancestors: dict[str, list[str]],
                     limit: int = CONCEPTS_SHOWN) -> list[ConceptGroup]:
    """The explained logit's positive evidence summed per concept: for every concept, the units labelled with it
    or (labels source) with a concept below it in WordNet, their count, how many of those labels are trusted,
    and their share of the positive evidence; the ``limit`` largest shares first (ties by name)."""
    contributions, total = neurons.contributions, neurons.positive_total or 0.0
    if not contributions or total <= 0 or not labels:
        return []
    groups: dict[str, dict] = {}
    for unit, c in enumerate(contributions):
        lab = labels.get(unit)
        if lab is None:
            continue
        for concept in [lab.label, *ancestors.get(lab.label, [])]:
            g = groups.setdefault(concept, {"concept": concept, "units": 0, "trusted": 0, "positive": 0.0,
                                            "own": 0})
            g["units"] += 1
            g["trusted"] += int(lab.semantic)
            g["own"] += int(concept == lab.label)
            g["positive"] += max(c, 0.0)
    ranked = sorted(groups.values(), key=lambda g: (-g["positive"], g["concept"]))[:limit]
    return [ConceptGroup(g["concept"], g["units"], g["trusted"], g["positive"] / total, g["units"] - g["own"])
            for g in ranked]


def evidence_sentence(groups: list[ConceptGroup], target: str) -> str:
    """The largest concept group in words ("units labelled bird or below it give 31% of the positive evidence
    for flamingo"), with how many of their labels are trusted."""
    if not groups:
        return ""
    g = groups[0]
    where = "or a concept below it " if g.below else ""
    return (f"The {g.units} units labelled {g.concept} {where}give {100 * g.share:.0f}% of the positive "
            f"evidence for {target}; {g.trusted} of their labels clear the layer's tests.")


def coverage(neurons: Neurons) -> str:
    """How much of the positive evidence the listed units carry, said plainly (the representation is usually
    distributed, and the page must not suggest that a few named units explain the prediction)."""
    shown, share = len(neurons.units), neurons.shown_share
    if share is None:
        return "No unit of this layer gives positive evidence for the explained class."
    rest = neurons.units_positive - sum(1 for u in neurons.units if u.contribution > 0)
    if share >= 0.5:
        return (f"These {shown} units carry {100 * share:.0f}% of the positive evidence; "
                f"{rest} other units share the rest.")
    return (f"These {shown} units carry only {100 * share:.0f}% of the positive evidence; the other {rest} "
            f"positive units carry the rest: the evidence is spread over many units, so no handful of named "
            f"neurons explains this prediction.")
