"""The ``dissection`` section's summaries, the original study's claims next to ours, and headlines.

Pure functions over per-neuron rows (``layer``, ``unit``, ``label``, ``similarity``, ...) as the stage
builds them; the definitions of the numbers are those of :mod:`xai_report.dissect.summaries`
(CLIP-Dissect, Oikarinen & Weng, ICLR 2023, plus this project's null threshold and importance).
"""

from __future__ import annotations

from itertools import combinations
from typing import Mapping, Sequence

from .summaries import category_counts, concept_counts, concept_overlap, summarise

TOP_N_OVERLAP = 50
TOP_CONCEPTS_SHOWN = 20

STUDY_CLAIMS = {
    "imagenet": {"weights_prefix": "torchvision:resnet18:", "neurons": 896, "distinct": 173,
                 "top_concept": ("fur", 36), "semantic": 0.72},
    "places365": {"weights_prefix": "places365:resnet18:", "neurons": 896, "distinct": 198,
                  "top_concept": ("window", 41), "semantic": 0.77},
}
"""What the original write-up reported for its two ResNet18s, matched to our models by weights id.

Its "896 neurons per model" is 128 + 256 + 512, the channels of layer2 + layer3 + layer4, although it
named layer3, layer4 and fc; its semantic-share threshold is not stated. The pages print these numbers as
the study's claims, never as results of this build."""
STUDY_OVERLAP_CLAIM = 0.38
STUDY_NEURONS_NOTE = "layer2 + layer3 + layer4 = 128 + 256 + 512 channels"


def _r(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


# ---------------------------------------------------------------------------------------------
# per layer and per model


def layer_summary(rows: Sequence[Mapping], threshold: float) -> dict:
    """Neurons, distinct labels, top label, semantic share (score >= the layer's null threshold, dead
    neurons excluded) and dead neurons of one layer."""
    top = concept_counts(rows)[:1]
    semantic = sum(1 for r in rows if r["semantic"])
    return {
        "neurons": len(rows),
        "distinct_concepts": len({r["label"] for r in rows}),
        "top_concept": {"label": top[0][0], "neurons": top[0][1]} if top else None,
        "null_threshold": _r(threshold),
        "semantic": {"labelled": semantic, "total": len(rows), "share": _r(semantic / len(rows)) if rows else 0.0},
        "dead": sum(1 for r in rows if r["dead"]),
    }


def model_summary(rows: Sequence[Mapping], concept_category: Mapping[str, str]) -> dict:
    """The model's headline numbers (``summaries.summarise``), categories and the top concepts."""
    base = summarise(rows, None, top_n=TOP_CONCEPTS_SHOWN)
    semantic = sum(1 for r in rows if r["semantic"])  # dead neurons never count, unlike a bare threshold
    return {
        "neurons": base["neurons"],
        "neurons_per_layer": base["neurons_per_layer"],
        "distinct_concepts": base["distinct_concepts"],
        "top_concept": base["top_concept"],
        "top_concepts": [dict(c, category=concept_category.get(c["label"], "other")) for c in base["top_concepts"]],
        "count_histogram": [[int(m), int(k)] for m, k in base["count_histogram"].items()],
        "redundancy": base["redundancy"],
        "diversity": {k: _r(v) for k, v in base["diversity"].items()},
        "semantic": {"labelled": semantic, "total": len(rows), "share": _r(semantic / len(rows)) if rows else 0.0},
        "dead": sum(1 for r in rows if r["dead"]),
        "categories": [{"category": c, "neurons": k} for c, k in category_counts(rows, concept_category)],
    }


# ---------------------------------------------------------------------------------------------
# across models


def comparisons(models: Sequence[Mapping], rows_of: Mapping[str, Sequence[Mapping]]) -> list[dict]:
    """Every pair of models: overlap of their top-50 concepts and the concepts found in one model only."""
    out = []
    for a, b in combinations(models, 2):
        ov = concept_overlap(rows_of[a["key"]], rows_of[b["key"]], n=TOP_N_OVERLAP)
        out.append({
            "a": a["key"], "b": b["key"], "a_label": a["label"], "b_label": b["label"],
            "n": ov.n, "overlap": _r(ov.overlap), "jaccard": _r(ov.jaccard), "shared": ov.shared,
            "only_a": ov.only_a, "only_b": ov.only_b,
            "top_a": [c for c, _ in concept_counts(rows_of[a["key"]])[:TOP_N_OVERLAP]],
            "top_b": [c for c, _ in concept_counts(rows_of[b["key"]])[:TOP_N_OVERLAP]],
        })
    return out


# ---------------------------------------------------------------------------------------------
# the original study's claims next to ours


def claim_for(weights_id: str) -> dict | None:
    """The study's claim about this model, if the model is one of the two it dissected."""
    for name, claim in STUDY_CLAIMS.items():
        if weights_id.startswith(claim["weights_prefix"]):
            return {"dataset": name, **claim}
    return None


def _ours_neurons(model: Mapping) -> str:
    per = ", ".join(f"{name} {n}" for name, n in model["summary"]["neurons_per_layer"].items())
    return f"{model['summary']['neurons']} ({per})"


def _ours_top(model: Mapping) -> str:
    top = model["summary"]["top_concept"]
    return f"\"{top['label']}\", {top['neurons']} neurons" if top else "none"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def claims_table(models: Sequence[Mapping], comps: Sequence[Mapping]) -> dict:
    """Rows of (metric, per model: the study's claim or "not claimed", this build's value), as text."""
    claims = {m["key"]: claim_for(m["weights_id"]) for m in models}

    def row(metric: str, claimed, ours) -> dict:
        return {"metric": metric, "models": {m["key"]: {"claimed": claimed(claims[m["key"]]) if claims[m["key"]] else "not claimed",
                                                        "ours": ours(m)} for m in models}}

    rows = [
        row("Neurons analysed", lambda c: f"{c['neurons']} ({STUDY_NEURONS_NOTE})", _ours_neurons),
        row("Distinct concepts", lambda c: str(c["distinct"]), lambda m: str(m["summary"]["distinct_concepts"])),
        row("Most frequent concept", lambda c: f"\"{c['top_concept'][0]}\", {c['top_concept'][1]} neurons", _ours_top),
        row("Semantic neurons", lambda c: f"{_pct(c['semantic'])} (threshold not stated)",
            lambda m: f"{_pct(m['summary']['semantic']['share'])} ({m['summary']['semantic']['labelled']} of "
                      f"{m['summary']['semantic']['total']}, above the shuffled-activation null)"),
    ]
    overlap = None
    if comps and all(claims.get(k) for k in (comps[0]["a"], comps[0]["b"])):
        overlap = {"claimed": _pct(STUDY_OVERLAP_CLAIM), "ours": _pct(comps[0]["overlap"])}
    return {"rows": rows, "any_claim": any(claims.values()), "overlap": overlap,
            "datasets": {k: (c["dataset"] if c else None) for k, c in claims.items()}}


# ---------------------------------------------------------------------------------------------
# headlines


def headlines(section: Mapping) -> list[str]:
    """One-line findings for the home page (plain text: the template escapes them)."""
    models = section["models"]
    lines = [
        f"Dissection: {sum(m['summary']['neurons'] for m in models)} neurons of {len(models)} model(s) "
        f"({', '.join(m['label'] for m in models)}) labelled with CLIP-Dissect against "
        f"{section['concepts']['count']} concepts on {section['probe']['images']} probe images."
    ]
    for m in models:
        s = m["summary"]
        top = s["top_concept"]
        lines.append(
            f"{m['label']}: {s['distinct_concepts']} distinct concepts over {s['neurons']} neurons, most frequent "
            f"\"{top['label'] if top else 'none'}\" ({top['neurons'] if top else 0} neurons); "
            f"{_pct(s['semantic']['share'])} score above the shuffled-activation null."
        )
        check = m.get("self_check")
        if check:
            lines.append(
                f"{m['label']} self-check: {_pct(check['top1'])} of its {check['neurons']} fc neurons get their own "
                f"class name as top-1 label ({_pct(check['top5'])} within the top 5; chance {_pct(check['chance_top1'])})."
            )
    for c in section.get("comparisons", []):
        lines.append(f"{c['a_label']} vs {c['b_label']}: {_pct(c['overlap'])} of the top-{c['n']} concepts are shared.")
    return lines
