"""The ``dissection`` section of ``results.json``: per layer, per model and across models, numbers only.

Assembled from the per-neuron rows (:mod:`.neurons`) with the counts of :mod:`.summaries` and
:mod:`.categories`; the sentences shown on the site (headlines, the original study's claims next to ours)
are made in ``render`` from these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Mapping, Sequence

from ..config import DissectionConfig
from ..models import LoadedModel
from ..numbers import rounded as _r
from ..text import display_name
from . import strips
from .categories import DEFAULT_CATEGORIES, category_counts
from .concepts import ConceptSet
from .labelling import LABELS_K, NULL, WPMI
from .probe import ProbeImage
from .quality import RANDOM_QUANTILE
from .self_check import misses, without_units
from .summaries import Counts, concept_counts, concept_overlap, summarise

CITATION = ("Oikarinen & Weng, \"CLIP-Dissect: Automatic Description of Neuron Representations in Deep Vision "
            "Networks\", ICLR 2023")
STRIPS_CITATION = ("Bau et al., \"Network Dissection: Quantifying Interpretability of Deep Visual "
                   "Representations\", CVPR 2017")
TOP_N_OVERLAP = 50
TOP_CONCEPTS_SHOWN = 20
MOST_IMPORTANT_SHOWN = 10


@dataclass
class DissectedModel:
    """What the stage found for one model, before it becomes the model's entry."""

    key: str
    slug: str
    label: str
    model: LoadedModel
    layers: list[dict]
    """Per dissected layer: ``name``, ``slug``, ``threshold`` (the shuffled-activation null threshold), ``spatial``
    and ``quality`` (:func:`.sanity.layer_quality`)."""
    rows: list[dict]
    """One per neuron of every dissected layer (:func:`.neurons.neuron_rows`)."""
    check: dict | None
    """The fc self-check with its per-unit table, or None (:mod:`.self_check`)."""
    twin_check: dict | None = None
    """The same self-check of the model's randomised twin (:mod:`.sanity`)."""
    files: dict[str, str] = field(default_factory=dict)


def _semantic(labelled: int, total: int) -> dict:
    return {"labelled": labelled, "total": total, "share": _r(labelled / total) if total else 0.0}


def layer_entry(info: Mapping, rows: Sequence[Mapping]) -> dict:
    """One layer: its neurons, distinct labels, top label, null threshold (shuffled activations), the threshold a
    label must reach (``threshold``, the largest of its tests'), semantic share (labels that clear it; dead neurons
    never count), dead neurons, the label quality and randomised-model numbers (``quality``), the per-neuron table
    and the most important neurons."""
    counts = concept_counts(rows)
    return {
        "name": info["name"], "slug": info["slug"], "importance_kind": rows[0]["importance_kind"],
        "spatial": info["spatial"],
        "neurons": len(rows),
        "distinct_concepts": len(counts),
        "top_concept": {"label": counts[0][0], "neurons": counts[0][1]} if counts else None,
        "null_threshold": _r(info["threshold"]),
        "threshold": info["quality"]["threshold"],
        "quality": info["quality"],
        "semantic": _semantic(sum(1 for r in rows if r["semantic"]), len(rows)),
        "dead": sum(1 for r in rows if r["dead"]),
        "units": [{k: v for k, v in r.items() if k != "layer"} for r in rows],
        "most_important": [r["unit"] for r in sorted(rows, key=lambda r: r["rank"])[:MOST_IMPORTANT_SHOWN]],
    }


def model_summary(rows: Sequence[Mapping], counts: Counts, layers: Sequence[Mapping],
                  concept_category: Mapping[str, str]) -> dict:
    """The model's numbers (:func:`.summaries.summarise`), its semantic and dead neurons (the sums of its
    layers'), its categories and top concepts with their category."""
    base = summarise(rows, top_n=TOP_CONCEPTS_SHOWN, counts=counts)
    return {
        **{k: base[k] for k in ("neurons", "neurons_per_layer", "distinct_concepts", "top_concept")},
        "top_concepts": [dict(c, category=concept_category.get(c["label"], "other")) for c in base["top_concepts"]],
        "count_histogram": [[int(m), int(k)] for m, k in base["count_histogram"].items()],
        "redundancy": base["redundancy"],
        "diversity": {k: _r(v) for k, v in base["diversity"].items()},
        "semantic": _semantic(sum(layer["semantic"]["labelled"] for layer in layers), len(rows)),
        "dead": sum(layer["dead"] for layer in layers),
        "categories": [{"category": c, "neurons": k} for c, k in category_counts(rows, concept_category)],
    }


def model_entry(d: DissectedModel, counts: Counts, concept_category: Mapping[str, str]) -> dict:
    layers = [layer_entry(info, [r for r in d.rows if r["layer"] == info["name"]]) for info in d.layers]
    return {
        "key": d.key,
        "slug": d.slug,
        "label": d.label,
        "description": d.model.description,
        "weights_id": d.model.weights_id,
        "num_classes": len(d.model.class_names),
        "preprocess": d.model.preprocess.to_dict(),
        "layers": layers,
        "summary": model_summary(d.rows, counts, layers, concept_category),
        "self_check": without_units(d.check),
        "randomised_self_check": without_units(d.twin_check),
        "self_check_misses": misses(d.check),
        "files": d.files,
    }


def comparisons(models: Sequence[Mapping], counts_of: Mapping[str, Counts]) -> list[dict]:
    """Every pair of models: overlap of their top-50 concepts and the concepts found in one model only."""
    out = []
    for a, b in combinations(models, 2):
        ov = concept_overlap(counts_of[a["key"]], counts_of[b["key"]], n=TOP_N_OVERLAP)
        out.append({
            "a": a["key"], "b": b["key"], "a_label": a["label"], "b_label": b["label"],
            "n": ov.n, "overlap": _r(ov.overlap), "jaccard": _r(ov.jaccard), "shared": ov.shared,
            "only_a": ov.only_a, "only_b": ov.only_b, "top_a": ov.top_a, "top_b": ov.top_b,
        })
    return out


def _concepts(cfg: DissectionConfig, concepts: ConceptSet, used: set[str]) -> dict:
    """Where the concepts came from: the CLIP concept file, or the labels source's WordNet files and bounds, with
    each label in ``used``'s WordNet ancestors among the concepts (``ancestors``: the pages sum evidence by them)."""
    if cfg.concepts_source == "clip":
        return {"file": display_name(Path(cfg.concepts)), "count": len(concepts.words), "sha256": concepts.sha256,
                "source": "clip"}
    above = {} if concepts.ancestors is None else {
        word: [concepts.words[a] for a in concepts.ancestors[i]] for i, word in enumerate(concepts.words) if word in used}
    return {"file": display_name(Path(cfg.wordnet_classes)), "count": len(concepts.words),
            "sha256": concepts.sha256, "source": "labels", "ancestors_file": display_name(Path(cfg.wordnet_ancestors)),
            "min_classes": cfg.min_classes, "max_classes": cfg.max_classes, "ancestors": dict(sorted(above.items()))}


def build_section(cfg: DissectionConfig, seed: int, clip_id: str, probe: list[ProbeImage], probe_sha: str,
                  concepts: ConceptSet, dissected: list[DissectedModel], concept_category: Mapping[str, str],
                  skipped: list[dict]) -> dict:
    """The whole ``dissection`` section."""
    counts_of = {d.key: concept_counts(d.rows) for d in dissected}
    models = [model_entry(d, counts_of[d.key], concept_category) for d in dissected]
    files = [p for m in models for p in m["files"].values()]
    return {
        "method": {"name": "CLIP-Dissect", "citation": CITATION, "strips_citation": STRIPS_CITATION},
        "clip": ({"id": clip_id, "arch": cfg.clip.arch, "pretrained": cfg.clip.pretrained}
                 if cfg.concepts_source == "clip" else None),
        "probe": {"folders": [display_name(Path(f)) for f in cfg.probe], "images": len(probe),
                  "sha256": probe_sha, "files": [img.name for img in probe]},
        "concepts": _concepts(cfg, concepts, {r["label"] for d in dissected for r in d.rows}),
        "parameters": {"pool": cfg.pool, **({"token_pool": cfg.token_pool} if cfg.token_pool != "cls" else {}),
                       "top_k": cfg.top_k, **WPMI, "labels_per_neuron": LABELS_K,
                       "null_quantile": NULL["quantile"], "null_shuffles": NULL["shuffles"], "seed": seed,
                       "random_null_quantile": RANDOM_QUANTILE, "randomised_seed": seed,
                       "strip_images": min(cfg.strip_images, len(probe)), "strip_thumb_px": strips.THUMB,
                       "strip_outline_level": strips.OUTLINE_LEVEL, "layers": list(cfg.layers)},
        "categories": [{"category": c, "prompt": p} for c, p in DEFAULT_CATEGORIES.items()],
        "models": models,
        "comparisons": comparisons(models, counts_of),
        "files": files,
        "assets": [r["strip"] for d in dissected for r in d.rows] + files,
        "skipped": skipped,
    }
