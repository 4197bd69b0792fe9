"""The dissection's sentences, made from the numbers of the ``dissection`` section: the home page's headlines
and the original study's claims set next to this build's results.

The stage writes numbers only; everything here is formatting of them (plain text: the templates escape it).
"""

from __future__ import annotations

from ..records import DissectedModel, DissectionSection

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


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def claim_for(weights_id: str) -> dict | None:
    """The study's claim about this model, if the model is one of the two it dissected."""
    for name, claim in STUDY_CLAIMS.items():
        if weights_id.startswith(claim["weights_prefix"]):
            return {"dataset": name, **claim}
    return None


def _ours_neurons(model: DissectedModel) -> str:
    per = ", ".join(f"{name} {n}" for name, n in model.summary.neurons_per_layer.items())
    return f"{model.summary.neurons} ({per})"


def _ours_top(model: DissectedModel) -> str:
    top = model.summary.top_concept
    return f"\"{top.label}\", {top.neurons} neurons" if top else "none"


def _ours_semantic(model: DissectedModel) -> str:
    s = model.summary.semantic
    return f"{_pct(s.share)} ({s.labelled} of {s.total}, above the shuffled-activation and randomised-model nulls)"


def claims(section: DissectionSection | None) -> dict | None:
    """Rows of (measure, per model: the study's claim or "not claimed", this build's value), as text, and the
    top-50 overlap of the first pair of models when the study claimed both."""
    if not section:
        return None
    models, comps = section.models, section.comparisons
    found = {m.key: claim_for(m.weights_id) for m in models}

    def row(metric: str, claimed, ours) -> dict:
        return {"metric": metric, "models": {m.key: {"claimed": claimed(found[m.key]) if found[m.key]
                                                     else "not claimed", "ours": ours(m)} for m in models}}

    rows = [
        row("Neurons analysed", lambda c: f"{c['neurons']} ({STUDY_NEURONS_NOTE})", _ours_neurons),
        row("Distinct concepts", lambda c: str(c["distinct"]), lambda m: str(m.summary.distinct_concepts)),
        row("Most frequent concept", lambda c: f"\"{c['top_concept'][0]}\", {c['top_concept'][1]} neurons", _ours_top),
        row("Semantic neurons", lambda c: f"{_pct(c['semantic'])} (threshold not stated)", _ours_semantic),
    ]
    overlap = None
    if comps and all(found.get(k) for k in (comps[0].a, comps[0].b)):
        overlap = {"claimed": _pct(STUDY_OVERLAP_CLAIM), "ours": _pct(comps[0].overlap)}
    return {"rows": rows, "any_claim": any(found.values()), "overlap": overlap}


def concept_source(section: DissectionSection) -> str:
    """The sentence every dissection page carries: which concept source labelled the neurons."""
    c = section.concepts
    if c.source == "labels":
        return (f"Concept source: labels, {c.count} concepts, the ImageNet class names and the WordNet "
                f"ancestors covering {c.min_classes} to {c.max_classes} classes; an image's concepts are its "
                f"class and that class's ancestors (no CLIP).")
    clip = section.clip
    arch, pretrained = (clip.arch, clip.pretrained) if clip else ("?", "?")
    return f"Concept source: CLIP ({arch} / {pretrained}): {c.count} concept words of {c.file}."


def _quality_line(model: DissectedModel) -> str:
    """Per layer of one model: labelled share (the randomised twin's beside it) and split-half stability."""
    parts = []
    for layer in model.layers:
        q = layer.quality
        twin_share = q.randomised.held_out_above_threshold_share
        twin_text = f", randomised copy {_pct(twin_share)}" if twin_share is not None else ""
        stable = q.trained.stability
        parts.append(f"{layer.name} {_pct(layer.semantic.share)} labelled{twin_text}, stability "
                     f"{_pct(stable) if stable is not None else 'n/a'} (chance {_pct(q.trained.stability_chance or 0)})")
    return f"{model.label} label quality by layer: " + "; ".join(parts) + "." if parts else ""


def headlines(section: DissectionSection | None) -> list[str]:
    """One-line findings for the home page; none when dissection did not run."""
    if not section:
        return []
    models = section.models
    neurons = sum(m.summary.neurons for m in models)  # the models' own counts, added up for one sentence
    lines = [
        f"Dissection: {neurons} neurons of {len(models)} model(s) ({', '.join(m.label for m in models)}) "
        f"labelled with CLIP-Dissect's soft-WPMI against {section.concepts.count} concepts "
        f"({'ImageNet classes and WordNet ancestors' if section.concepts.source == 'labels' else 'CLIP'}) on "
        f"{section.probe.images} probe images."
    ]
    for m in models:
        s = m.summary
        top = s.top_concept
        lines.append(
            f"{m.label}: {s.distinct_concepts} distinct concepts over {s.neurons} neurons, most frequent "
            f"\"{top.label if top else 'none'}\" ({top.neurons if top else 0} neurons); "
            f"{_pct(s.semantic.share)} labelled (clear the shuffled-activation and the randomised-model nulls)."
        )
        quality = _quality_line(m)
        if quality:
            lines.append(quality)
        check = m.self_check
        if check:
            extra = (f", {_pct(check.class_or_ancestor)} their class or one of its ancestors"
                     if check.class_or_ancestor is not None else "")
            twin = m.randomised_self_check
            twin_text = f"; a randomised copy: {_pct(twin.top1)}" if twin else ""
            lines.append(
                f"{m.label} self-check: {_pct(check.top1)} of its {check.neurons} classifier neurons get their "
                f"own class name as top-1 label{extra} ({_pct(check.top5)} within the top 5; chance "
                f"{_pct(check.chance_top1)}{twin_text})."
            )
    for c in section.comparisons:
        lines.append(f"{c.a_label} vs {c.b_label}: {_pct(c.overlap)} of the top-{c.n} concepts are shared.")
    return lines
