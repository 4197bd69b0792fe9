"""Rules over the dissection section: each model's summary numbers (``models[].summary``: neurons, distinct
concepts, top concept, categories, semantic share, redundancy, diversity), its layers' neuron labels, and the
comparison of two models (``comparisons[]``: top-50 overlap, concepts found in one model only).

The models are found by role (:meth:`.engine.Context.dissected`); ``semantic`` is read as the stage reports
it, never recomputed here."""

from __future__ import annotations

from ...config.claims import (Claim, LayerLabels, ModelCompare, ModelNumber, OnlyIn, Overlap, TopCategory,
                              TopConcept)
from ...records import DissectedModel, ModelComparison
from .engine import RULES, Context, Outcome, Rule, Untestable, fmt, joined

FIELDS = {
    "neurons": "neurons analysed (every unit of the dissected layers)",
    "distinct_concepts": "distinct concepts among the neurons' top-1 labels",
    "semantic.share": "share of neurons whose label is semantic (as the dissection reports it)",
    "redundancy.largest_size": "the largest number of neurons of one layer that share a label",
    "diversity.entropy_bits": "concept diversity: Shannon entropy (bits) of the label distribution",
    "diversity.normalised": "concept diversity: label entropy divided by log2(neurons)",
}


def _field(model: DissectedModel, path: str) -> float:
    """A number of the model's summary by its dotted name in the claims file (``semantic.share``)."""
    value = model.summary
    for part in path.split("."):
        if part not in getattr(type(value), "model_fields", {}):
            raise Untestable(f"the dissection summary has no {path}")
        value = getattr(value, part)
    return value


def _models(claim: Claim, ctx: Context) -> list[DissectedModel]:
    return [ctx.dissected(role) for role in claim.models]


def _show(value: float) -> str:
    """Counts as integers (896, not 896.000), fractions with three decimals."""
    return str(int(value)) if float(value).is_integer() else fmt(value)


def _labels(claim: Claim, ctx: Context) -> list[str]:
    return [ctx.label(r) for r in claim.models]


# -- one number per model ----------------------------------------------------------------------

def _expected(t: ModelNumber, i: int) -> float:
    return t.expected[i] if len(t.expected) > 1 else t.expected[0]


def _number_describe(claim: Claim, t: ModelNumber, ctx: Context) -> str:
    if t.minimum is not None:
        return f"supported when it is at least {_show(t.minimum)} for {joined(_labels(claim, ctx))}; contradicted otherwise"
    parts = [f"{_show(_expected(t, i))} for {ctx.label(r)}" for i, r in enumerate(claim.models)]
    tol = (f"within {100 * t.tolerance:.0f}% of " if t.relative else
           f"within {_show(t.tolerance)} of " if t.tolerance else "exactly ")
    return f"supported when it is {tol}{joined(parts)}; contradicted otherwise"


def _number_judge(claim: Claim, t: ModelNumber, ctx: Context) -> Outcome:
    numbers, holds = [], True
    for i, model in enumerate(_models(claim, ctx)):
        value = _field(model, t.field)
        if t.minimum is not None:
            holds &= value >= t.minimum
        else:
            want = _expected(t, i)
            holds &= abs(value - want) <= (t.tolerance * abs(want) if t.relative else t.tolerance) + 1e-9
        numbers.append(f"{model.label}: {_show(value)}" + ("" if t.minimum is not None else f" (claimed {_show(_expected(t, i))})"))
    return Outcome(holds, numbers)


RULES["model_number"] = Rule(lambda c, t, x: FIELDS.get(t.field, t.field), _number_describe, _number_judge)


def _top_judge(claim: Claim, t: TopConcept, ctx: Context) -> Outcome:
    numbers, holds = [], True
    for i, model in enumerate(_models(claim, ctx)):
        top = model.summary.top_concept
        label, neurons = (top.label, top.neurons) if top else ("none", 0)
        holds &= label.casefold() == t.labels[i].casefold()
        claimed = f"\"{t.labels[i]}\"" + (f", {t.counts[i]} neurons" if i < len(t.counts) else "")
        numbers.append(f"{model.label}: \"{label}\", {neurons} neurons (claimed {claimed})")
    return Outcome(holds, numbers)


RULES["top_concept"] = Rule(
    lambda c, t, x: "the label given to the most neurons",
    lambda c, t, x: (f"supported when the most frequent label is {joined([f'{l!r}' for l in t.labels])} "
                     f"respectively (the counts are shown, not tested); contradicted otherwise"),
    _top_judge)


def _category_judge(claim: Claim, t: TopCategory, ctx: Context) -> Outcome:
    numbers, holds = [], True
    for i, model in enumerate(_models(claim, ctx)):
        cats = sorted(model.summary.categories, key=lambda c: -c.neurons)
        if not cats:
            raise Untestable(f"{model.label} has no concept categories")
        holds &= cats[0].category in t.categories[i]
        numbers.append(f"{model.label}: " + ", ".join(f"{c.category} {c.neurons}" for c in cats[:3]))
    return Outcome(holds, numbers)


RULES["top_category"] = Rule(
    lambda c, t, x: "the concept category (animal, texture or pattern, building or structure, ...) holding most neurons",
    lambda c, t, x: ("supported when the largest category is " + joined(
        [f"one of {', '.join(cs)} for {x.label(r)}" for cs, r in zip(t.categories, c.models)]) + "; contradicted otherwise"),
    _category_judge)


def _compare_judge(claim: Claim, t: ModelCompare, ctx: Context) -> Outcome:
    first, second = _models(claim, ctx)
    a, b = _field(first, t.field), _field(second, t.field)
    return Outcome(a > b, [f"{first.label}: {_show(a)}", f"{second.label}: {_show(b)}"])


RULES["model_compare"] = Rule(
    lambda c, t, x: FIELDS.get(t.field, t.field),
    lambda c, t, x: f"supported when it is larger for {x.label(c.models[0])} than for {x.label(c.models[1])}; contradicted otherwise",
    _compare_judge)


# -- two models' labels ------------------------------------------------------------------------

def _comparison(claim: Claim, ctx: Context) -> tuple[ModelComparison, bool]:
    """The comparison of the claim's two models, and whether the first is its ``a``."""
    first, second = _models(claim, ctx)
    for comp in ctx.dis.comparisons:
        if (comp.a, comp.b) in ((first.key, second.key), (second.key, first.key)):
            return comp, comp.a == first.key
    raise Untestable(f"no comparison of {first.label} and {second.label} in results.json")


def _overlap_judge(claim: Claim, t: Overlap, ctx: Context) -> Outcome:
    comp, _ = _comparison(claim, ctx)
    value = comp.overlap
    return Outcome(abs(value - t.expected) <= t.tolerance + 1e-9,
                   [f"{len(comp.shared)} of the top-{comp.n} concepts shared: {100 * value:.0f}% "
                    f"(claimed {100 * t.expected:.0f}%)"])


RULES["overlap"] = Rule(
    lambda c, t, x: "the share of the two models' top-50 concepts (by neuron count) that both have",
    lambda c, t, x: (f"supported when it is within {100 * t.tolerance:.0f} points of {100 * t.expected:.0f}%; "
                     "contradicted otherwise"),
    _overlap_judge)


def _only_judge(claim: Claim, t: OnlyIn, ctx: Context) -> Outcome:
    comp, first_is_a = _comparison(claim, ctx)
    only = {c.casefold() for c in (comp.only_a if first_is_a else comp.only_b)}
    present = [c for c in t.concepts if c.casefold() in only]
    missing = [c for c in t.concepts if c.casefold() not in only]
    return Outcome(len(present) >= t.min_present,
                   [f"only in {ctx.label(claim.models[0])}: {', '.join(present) or 'none of them'}"]
                   + ([f"not only there: {', '.join(missing)}"] if missing else []))


RULES["only_in"] = Rule(
    lambda c, t, x: f"the labels of {x.label(c.models[0])}'s neurons that label no neuron of {x.label(c.models[1])}",
    lambda c, t, x: (f"supported when at least {t.min_present} of {', '.join(t.concepts)} are among them; "
                     "contradicted otherwise"),
    _only_judge)


def _layer_judge(claim: Claim, t: LayerLabels, ctx: Context) -> Outcome:
    model = _models(claim, ctx)[0]
    layer = model.layer(claim.layer)
    if layer is None:
        raise Untestable(f"layer {claim.layer} of {model.label} was not dissected")
    labels = [u.label.casefold() for u in layer.units]
    found = {c: labels.count(c.casefold()) for c in t.concepts}
    present = [c for c, n in found.items() if n]
    return Outcome(len(present) >= t.min_present,
                   [f"{claim.layer} of {model.label}: " + ", ".join(f"\"{c}\" {n} neurons" for c, n in found.items())])


RULES["layer_labels"] = Rule(
    lambda c, t, x: f"the top-1 labels of the neurons of {c.layer}",
    lambda c, t, x: (f"supported when at least {t.min_present} of {', '.join(t.concepts)} label a neuron of "
                     f"{c.layer}; contradicted otherwise"),
    _layer_judge)
