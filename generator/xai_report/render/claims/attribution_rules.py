"""Rules over the attribution section: map measures (energy in the object boxes, spread, Gini; from
``images[].map_measures``), agreement between methods (``images[].metrics.agreement``) and the stability of
a method across seeds (``images[].seed_stability``)."""

from __future__ import annotations

from itertools import combinations
from statistics import mean

from ...config.claims import (AboveChance, AgreementContrast, Claim, MethodOrder, NoObject, PairwiseAgreement,
                              RegionAgreement, SeedStability)
from ...records import Agreement, ImageMapMeasures, ImageRecord
from .engine import RULES, Context, Outcome, Rule, Untestable, fmt, joined, pct

MEASURES = {
    "energy_in_boxes": "energy inside the object boxes: the share of the map's positive mass that falls in them "
                       "(energy-based pointing game, Wang et al., Score-CAM, CVPR-W 2020), in the model's input frame",
    "spread_half_max": "spread: the share of pixels at or above half the map's maximum (larger = broader, more diffuse)",
    "gini": "Gini index of the map's positive part (larger = more concentrated; Chalasani et al., ICML 2020)",
}
NAMES = {"energy_in_boxes": "energy in the boxes", "spread_half_max": "spread", "gini": "Gini index"}


def _measures(record: ImageRecord) -> ImageMapMeasures:
    found = record.map_measures
    if found is None:
        raise Untestable("results.json has no map measures (build with a version that computes them)")
    return found


def _value(record: ImageRecord, method: str, measure: str) -> float | None:
    found = _measures(record).methods.get(method)
    return None if found is None else getattr(found, measure)


def _skipped(records: list[ImageRecord], measure: str) -> list[str]:
    """"kite (reason)" for the images whose boxes are absent, when the measure needs boxes."""
    if measure != "energy_in_boxes":
        return []
    return [f"{r.title} skipped: {_measures(r).boxes.absent}" for r in records if _measures(r).boxes.absent is not None]


def _titles(ctx: Context, methods: list[str]) -> str:
    return joined([ctx.title(m) for m in methods])


def _share(at_least: float, claim: Claim) -> str:
    """"on at least 70% of the images", or "on every named image"."""
    images = "named image" if claim.images else "image"
    return f"on every {images}" if at_least >= 1 else f"on at least {pct(at_least)} of the {images}s"


def _names(ctx: Context, ids: list[str]) -> str:
    """The images' titles (their ids when the results lack them)."""
    try:
        return joined([r.title for r in ctx.images(ids)])
    except Untestable:
        return joined(ids)


# -- method_order ------------------------------------------------------------------------------

def _order_describe(claim: Claim, t: MethodOrder, ctx: Context) -> str:
    return (f"supported when {'each of ' if len(claim.methods) > 1 else ''}{_titles(ctx, claim.methods)} has a "
            f"{t.direction} {NAMES[t.measure]} than {_titles(ctx, t.than)} {_share(t.at_least, claim)}"
            f"{' with boxes' if t.measure == 'energy_in_boxes' else ''}; contradicted otherwise")


def _order_judge(claim: Claim, t: MethodOrder, ctx: Context) -> Outcome:
    ctx.require_methods(claim.methods + t.than)
    records = ctx.images(claim.images)
    numbers, holds = [], True
    for method in claim.methods:
        rows = [(r, _value(r, method, t.measure), [_value(r, o, t.measure) for o in t.than]) for r in records]
        rows = [(r, v, others) for r, v, others in rows if v is not None and None not in others]
        if not rows:
            raise Untestable(f"no image has the {NAMES[t.measure]} of {ctx.title(method)} and the others")
        better = [r for r, v, others in rows if all(v > o if t.direction == "higher" else v < o for o in others)]
        holds &= len(better) >= t.at_least * len(rows)
        numbers.append(f"{ctx.title(method)}: {t.direction} on {len(better)} of {len(rows)} images"
                       + (f" ({', '.join(r.title for r in better)})" if 0 < len(better) <= 4 else ""))
    for method in dict.fromkeys(claim.methods + t.than):
        values = [v for r in records if (v := _value(r, method, t.measure)) is not None]
        numbers.append(f"mean {NAMES[t.measure]} of {ctx.title(method)}: {fmt(mean(values) if values else None)}")
    return Outcome(holds, numbers + _skipped(records, t.measure))


RULES["method_order"] = Rule(lambda c, t, x: MEASURES[t.measure], _order_describe, _order_judge)


# -- above_chance ------------------------------------------------------------------------------

def _chance_judge(claim: Claim, t: AboveChance, ctx: Context) -> Outcome:
    ctx.require_methods(claim.methods)
    records = ctx.images(claim.images)
    boxed = [r for r in records if _measures(r).boxes.area_share is not None]
    if not boxed:
        raise Untestable("none of the claim's images has object boxes")
    numbers, holds = [], True
    for method in claim.methods:
        pairs = [(r, _value(r, method, "energy_in_boxes"), _measures(r).boxes.area_share) for r in boxed]
        pairs = [(r, e, c) for r, e, c in pairs if e is not None]
        above = [r for r, e, c in pairs if e > c]
        holds &= bool(pairs) and len(above) >= t.at_least * len(pairs)
        below = [f"{r.title} {fmt(e)} vs {fmt(c)}" for r, e, c in pairs if e <= c]
        closest = min(pairs, key=lambda p: p[1] / p[2]) if pairs else None
        numbers.append(f"{ctx.title(method)}: above chance on {len(above)} of {len(pairs)} images"
                       + (f"; not on {', '.join(below)}" if below else "")
                       + (f"; closest: {closest[0].title} {fmt(closest[1])} vs {fmt(closest[2])}"
                          if closest and not below and len(pairs) > 1 else "")
                       + (f" ({fmt(pairs[0][1])} vs {fmt(pairs[0][2])})" if len(pairs) == 1 else ""))
    return Outcome(holds, numbers + _skipped(records, "energy_in_boxes"))


RULES["above_chance"] = Rule(
    lambda c, t, x: MEASURES["energy_in_boxes"] + ", against its chance level: the boxes' share of the input",
    lambda c, t, x: (f"supported when the energy in the boxes of {_titles(x, c.methods)} beats the boxes' area share "
                     f"{_share(t.at_least, c)} with boxes, for each method; contradicted otherwise"),
    _chance_judge)


# -- no_object ---------------------------------------------------------------------------------

def _no_object_judge(claim: Claim, t: NoObject, ctx: Context) -> Outcome:
    record = ctx.images(claim.images)[0]
    boxes = _measures(record).boxes
    if boxes.count != 0:
        raise Untestable(boxes.absent or f"the boxes file marks {boxes.count} object(s) in {record.title}")
    top = record.predictions[0]
    return Outcome(t.verdict == "supported", [f"{record.title}: {boxes.absent}",
                                              f"the model's top-1 is \"{top.name}\" ({pct(top.probability)})"])


RULES["no_object"] = Rule(
    lambda c, t, x: "the object boxes of the image (drawn by eye for this project; see the note above)",
    lambda c, t, x: (f"{t.verdict} when the boxes file marks no object in the photo "
                     f"({'nothing but the background is there to look at' if t.verdict == 'supported' else 'what the claim describes is not in it'})"),
    _no_object_judge)


# -- agreement ---------------------------------------------------------------------------------

def _agreement(record: ImageRecord) -> Agreement:
    if record.metrics is None:
        raise Untestable("this study computes no agreement metrics (attribution.metrics = false)")
    return record.metrics.agreement


def _pair_judge(claim: Claim, t: PairwiseAgreement, ctx: Context) -> Outcome:
    ctx.require_methods(claim.methods)
    records = ctx.images(claim.images)
    numbers, holds = [], True
    for a, b in combinations(claim.methods, 2):
        values = [p.spearman for r in records for p in _agreement(r).pairs
                  if {p.a, p.b} == {a, b} and p.spearman is not None]
        if not values:
            raise Untestable(f"no Spearman correlation of {ctx.title(a)} and {ctx.title(b)}")
        holds &= mean(values) >= t.minimum
        numbers.append(f"{ctx.title(a)} vs {ctx.title(b)}: mean Spearman {fmt(mean(values))} over {len(values)} images")
    return Outcome(holds, numbers)


RULES["pairwise_agreement"] = Rule(
    lambda c, t, x: "Spearman rank correlation of two methods' maps, per image, averaged over the images",
    lambda c, t, x: (f"supported when every pair of {_titles(x, c.methods)} has a mean Spearman of at least "
                     f"{t.minimum:.2f}; contradicted otherwise"),
    _pair_judge)


def _region_value(record: ImageRecord, region: str, methods: list[str]) -> float | None:
    found = _agreement(record).regions(region)
    if found is None:
        raise Untestable(f"no region-level agreement with {region} in results.json")
    values = [found[m].superpixel_spearman for m in methods if m in found and found[m].superpixel_spearman is not None]
    return mean(values) if values else None


def _region_judge(claim: Claim, t: RegionAgreement, ctx: Context) -> Outcome:
    ctx.require_methods(claim.methods + [t.region])
    rows = [(r, _region_value(r, t.region, claim.methods)) for r in ctx.images(claim.images)]
    rows = [(r, v) for r, v in rows if v is not None]
    if not rows:
        raise Untestable("no image has the agreement")
    high = [r for r, v in rows if v >= t.minimum]
    numbers = [f"{r.title}: {fmt(v)}" for r, v in rows]
    return Outcome(len(high) >= t.at_least * len(rows), [f"at least {t.minimum:.2f} on {len(high)} of {len(rows)} images"] + numbers)


RULES["region_agreement"] = Rule(
    lambda c, t, x: (f"per image, the mean over {_titles(x, c.methods)} of each map's Spearman correlation with "
                     f"{x.title(t.region)}'s superpixel weights (region by region)"),
    lambda c, t, x: (f"supported when that mean is at least {t.minimum:.2f} on at least {pct(t.at_least)} of the named "
                     "images; contradicted otherwise"),
    _region_judge)


def _contrast_judge(claim: Claim, t: AgreementContrast, ctx: Context) -> Outcome:
    ctx.require_methods(claim.methods + [t.region])
    record, others = ctx.images(claim.images)[0], ctx.images(t.others)
    value = _region_value(record, t.region, claim.methods)
    rest = [v for r in others if (v := _region_value(r, t.region, claim.methods)) is not None]
    if value is None or not rest:
        raise Untestable("the agreement is undefined on these images")
    return Outcome(value < mean(rest), [f"{record.title}: {fmt(value)}",
                                        f"mean of {', '.join(r.title for r in others)}: {fmt(mean(rest))}"])


RULES["agreement_contrast"] = Rule(
    lambda c, t, x: (f"the mean over {_titles(x, c.methods)} of each map's Spearman correlation with "
                     f"{x.title(t.region)}'s superpixel weights"),
    lambda c, t, x: (f"supported when it is lower on {_names(x, c.images)} than its mean over {_names(x, t.others)}; "
                     "contradicted otherwise"),
    _contrast_judge)


# -- LIME across seeds -------------------------------------------------------------------------

def _stability_judge(claim: Claim, t: SeedStability, ctx: Context) -> Outcome:
    ctx.require_methods(claim.methods)
    records, numbers, holds = ctx.images(claim.images), [], True
    for method in claim.methods:
        rows = [(r, r.seed_stability[method]) for r in records if r.seed_stability and method in r.seed_stability]
        rows = [(r, s) for r, s in rows if s.mean_spearman is not None]
        if not rows:
            raise Untestable(f"{ctx.title(method)} was not rerun with other seeds (attribution.stability_methods)")
        value = mean(s.mean_spearman for _, s in rows)
        worst = min(rows, key=lambda rs: rs[1].mean_spearman)
        holds &= value < t.below
        numbers += [f"{ctx.title(method)}: mean Spearman between seeds {joined([str(x) for x in rows[0][1].seeds])}: "
                    f"{fmt(value)} over {len(rows)} images", f"lowest: {worst[0].title} {fmt(worst[1].mean_spearman)}"]
    return Outcome(holds, numbers)


RULES["seed_stability"] = Rule(
    lambda c, t, x: (f"Spearman rank correlation of {_titles(x, c.methods)}'s maps of one image computed with "
                     "different seeds, averaged over the pairs of seeds and the images"),
    lambda c, t, x: (f"supported (the method is sensitive) when the mean is below {t.below:.2f}; contradicted when it is "
                     f"{t.below:.2f} or more"),
    _stability_judge)
