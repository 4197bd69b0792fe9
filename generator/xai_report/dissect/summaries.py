"""Study summaries over a per-neuron table of CLIP-Dissect labels, computed from the data.

A *row* is a mapping with at least ``layer`` (str), ``unit`` (int), ``label`` (str) and ``similarity``
(float, the soft-WPMI score of the label), as :meth:`xai_report.dissect.wpmi.NeuronLabel.to_row` writes
it; other keys are ignored. Every function is pure and deterministic: equal counts are ordered by concept
name, equal importances by (layer, unit).

The null threshold (:func:`null_threshold`) and the importance scores are this project's additions to the
method of Oikarinen & Weng, "CLIP-Dissect", ICLR 2023; they are defined in their docstrings.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import torch

from .wpmi import soft_wpmi

Row = Mapping[str, object]

DEFAULT_CATEGORIES: dict[str, str] = {
    "animal": "an animal",
    "plant": "a plant",
    "food": "food",
    "person or body part": "a body part",
    "vehicle": "a vehicle",
    "building or structure": "a building or structure",
    "furniture": "furniture",
    "tool or object": "a tool or object",
    "clothing": "clothing",
    "scene or place": "a scene or place",
    "texture or pattern": "a texture or pattern",
    "colour": "a colour",
    "material": "a material",
    "shape": "a shape",
    "action": "an action",
}
"""Category name -> the prompt whose CLIP text feature stands for it (see :func:`categorise`)."""


# ---------------------------------------------------------------------------------------------
# counts


def neuron_counts(rows: Iterable[Row]) -> dict[str, int]:
    """Neurons analysed per layer (in first-seen layer order)."""
    return dict(Counter(str(r["layer"]) for r in rows))


def total_neurons(rows: Iterable[Row]) -> int:
    return sum(1 for _ in rows)


def concept_counts(rows: Iterable[Row]) -> list[tuple[str, int]]:
    """``(concept, number of neurons it labels)``, most frequent first; ties by concept name."""
    counts = Counter(str(r["label"]) for r in rows)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def distinct_concepts(rows: Iterable[Row]) -> int:
    """Number of different labels."""
    return len({str(r["label"]) for r in rows})


def top_concept(rows: Iterable[Row]) -> tuple[str, int] | None:
    """The label shared by most neurons and its count (ties: first by name); ``None`` for no rows."""
    counts = concept_counts(rows)
    return counts[0] if counts else None


def count_histogram(rows: Iterable[Row]) -> dict[int, int]:
    """Concept frequency histogram: ``{m: number of concepts that label exactly m neurons}``, m ascending."""
    hist = Counter(count for _, count in concept_counts(rows))
    return dict(sorted(hist.items()))


# ---------------------------------------------------------------------------------------------
# semantic share and its threshold


def _threshold_of(row: Row, threshold: float | Mapping[str, float]) -> float:
    if isinstance(threshold, Mapping):
        return float(threshold[str(row["layer"])])
    return float(threshold)


def semantic_share(rows: Sequence[Row], threshold: float | Mapping[str, float]) -> tuple[int, int, float]:
    """``(labelled, total, labelled / total)``: neurons whose label score is ``>= threshold``.

    ``threshold`` is one number or ``{layer: number}`` (soft-WPMI scores are not comparable across
    layers, since ``log P(c)`` is a per-layer average). Share is 0.0 for no rows.
    """
    labelled = sum(1 for r in rows if float(r["similarity"]) >= _threshold_of(r, threshold))
    total = len(rows)
    return labelled, total, (labelled / total if total else 0.0)


def shuffle_images(target_feats: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each neuron's column permuted independently across images.

    Keeps every neuron's activation distribution but breaks any link between a neuron and image content.
    """
    perm = torch.argsort(torch.rand(target_feats.shape, generator=generator), dim=0)
    return target_feats.gather(0, perm.to(target_feats.device))


def null_scores(clip_feats: torch.Tensor, target_feats: torch.Tensor, n_shuffles: int = 1, seed: int = 0,
                **wpmi_kwargs) -> torch.Tensor:
    """Top-1 soft-WPMI scores of one layer's neurons after :func:`shuffle_images` (n_shuffles x neurons)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_shuffles):
        scores = soft_wpmi(clip_feats, shuffle_images(target_feats, gen), **wpmi_kwargs)
        out.append(scores.max(dim=1).values)
    return torch.stack(out)


def null_threshold(clip_feats: torch.Tensor, target_feats: torch.Tensor, quantile: float = 0.95,
                   n_shuffles: int = 1, seed: int = 0, **wpmi_kwargs) -> float:
    """The score a neuron's label must reach to count as semantic, for one layer.

    Null hypothesis: the neuron fires independently of what the image shows. Under it, the neuron's top
    images are a random set, modelled by shuffling each neuron's activations across images
    (:func:`shuffle_images`) and running soft-WPMI with the same concepts, images and parameters. The
    threshold is the ``quantile`` (default 0.95) of the shuffled neurons' top-1 scores: a real label
    scoring above it beats 95% of labels that chance alone produces. Pass the layer's whole activation
    matrix (``log P(c)`` is computed over the shuffled layer, as for the real one). Cost: ``n_shuffles``
    soft-WPMI runs.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    scores = null_scores(clip_feats, target_feats, n_shuffles=n_shuffles, seed=seed, **wpmi_kwargs)
    return float(torch.quantile(scores.flatten().double(), quantile))


# ---------------------------------------------------------------------------------------------
# redundancy and diversity


@dataclass(frozen=True)
class Redundancy:
    """Groups of two or more neurons sharing a label."""

    n_groups: int
    n_neurons: int
    """Neurons that belong to some group."""
    largest_label: str | None
    largest_size: int
    groups: dict[tuple[str, str] | str, list[tuple[str, int]]] = field(default_factory=dict)
    """Group key (``(layer, label)``, or ``label`` across layers) -> its ``(layer, unit)`` members."""


def redundancy(rows: Iterable[Row], within_layer: bool = True) -> Redundancy:
    """Neurons sharing a label: within each layer (default) or across the whole model.

    The largest group is the one with most members; ties go to the smallest key.
    """
    members: dict[tuple[str, str] | str, list[tuple[str, int]]] = defaultdict(list)
    for r in rows:
        key = (str(r["layer"]), str(r["label"])) if within_layer else str(r["label"])
        members[key].append((str(r["layer"]), int(r["unit"])))
    groups = {k: v for k, v in sorted(members.items()) if len(v) >= 2}
    if not groups:
        return Redundancy(0, 0, None, 0, {})
    key, biggest = min(groups.items(), key=lambda kv: -len(kv[1]))  # min keeps the first (smallest key) of ties
    label = key[1] if within_layer else key
    return Redundancy(len(groups), sum(len(v) for v in groups.values()), label, len(biggest), groups)


@dataclass(frozen=True)
class Diversity:
    entropy_bits: float
    """``H = -sum_c p_c log2 p_c``, ``p_c`` = share of neurons labelled ``c``."""
    normalised: float
    """``H / log2(N)``, N neurons: 1 when every neuron has its own label, 0 when all share one."""
    evenness: float
    """``H / log2(K)``, K distinct labels (Pielou): 1 when the labels used are used equally often."""


def diversity(rows: Sequence[Row]) -> Diversity:
    """Shannon entropy of the label distribution (bits), normalised two ways (0.0 when undefined)."""
    n = len(rows)
    counts = [c for _, c in concept_counts(rows)]
    h = -sum(c / n * math.log2(c / n) for c in counts) if n else 0.0
    h = max(h, 0.0)  # a single label gives -0.0
    norm = h / math.log2(n) if n > 1 else 0.0
    even = h / math.log2(len(counts)) if len(counts) > 1 else 0.0
    return Diversity(h, norm, even)


# ---------------------------------------------------------------------------------------------
# importance


def fc_importance(activations: torch.Tensor, fc_weight: torch.Tensor) -> torch.Tensor:
    """Importance of the neurons feeding a linear classifier: ``mean_i |a_ij| * ||W[:, j]||_2``.

    ``activations`` (images x neurons) are the pooled activations that enter the classifier (e.g. the
    spatially averaged ``layer4`` of a ResNet), ``fc_weight`` (classes x neurons) its weight. The value is
    the average length of neuron j's contribution ``a_ij W[:, j]`` to the logit vector.
    """
    if activations.shape[1] != fc_weight.shape[1]:
        raise ValueError(f"{activations.shape[1]} neurons but the classifier takes {fc_weight.shape[1]} inputs")
    return activations.float().abs().mean(dim=0) * fc_weight.float().norm(dim=0)


def activation_importance(activations: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """Importance of any layer's neurons: ``(m_j / max_k m_k) * max(s_j, 0)``.

    ``m_j = mean_i |a_ij|`` is the neuron's mean activation magnitude on the probing images, scaled by the
    layer's largest so layers are comparable; ``s_j`` its label score. High for neurons that fire strongly
    *and* have a confident label; 0 for dead neurons and for labels scoring below 0.
    """
    m = activations.float().abs().mean(dim=0)
    scale = m.max()
    m = m / scale if scale > 0 else m
    return m * similarity.float().clamp(min=0)


def rank_neurons(rows: Iterable[Row], importance: Mapping[tuple[str, int], float],
                 top: int | None = None) -> list[dict]:
    """Rows sorted by ``importance[(layer, unit)]``, highest first (ties by layer, unit), with ``rank``
    (1-based) and ``importance`` added. Rows without an importance are left out."""
    scored = [dict(r, importance=float(importance[(str(r["layer"]), int(r["unit"]))]))
              for r in rows if (str(r["layer"]), int(r["unit"])) in importance]
    scored.sort(key=lambda r: (-r["importance"], str(r["layer"]), int(r["unit"])))
    scored = scored[:top] if top is not None else scored
    for i, r in enumerate(scored, 1):
        r["rank"] = i
    return scored


# ---------------------------------------------------------------------------------------------
# cross-model


def top_concepts(rows: Iterable[Row], n: int = 50) -> list[str]:
    """The ``n`` labels shared by most neurons (ties by name); fewer if there are fewer labels."""
    return [c for c, _ in concept_counts(rows)[:n]]


@dataclass(frozen=True)
class Overlap:
    n: int
    shared: list[str]
    """Concepts in both top-n lists, sorted by name."""
    overlap: float
    """``|A ∩ B| / n``."""
    jaccard: float
    """``|A ∩ B| / |A ∪ B|`` (0.0 when both are empty)."""
    only_a: list[str]
    """Labels of model A that label no neuron of model B (all labels, not only the top n), by name."""
    only_b: list[str]


def concept_overlap(rows_a: Iterable[Row], rows_b: Iterable[Row], n: int = 50) -> Overlap:
    """Compare two models' labels: overlap of their top-``n`` concepts and concepts found in one only.

    ``A`` and ``B`` are the top-``n`` concepts by neuron count (:func:`top_concepts`); when a model has
    fewer than ``n`` labels its list is shorter and ``overlap`` keeps dividing by ``n``.
    """
    rows_a, rows_b = list(rows_a), list(rows_b)
    a, b = set(top_concepts(rows_a, n)), set(top_concepts(rows_b, n))
    union = a | b
    all_a = {str(r["label"]) for r in rows_a}
    all_b = {str(r["label"]) for r in rows_b}
    return Overlap(
        n=n,
        shared=sorted(a & b),
        overlap=len(a & b) / n,
        jaccard=len(a & b) / len(union) if union else 0.0,
        only_a=sorted(all_a - all_b),
        only_b=sorted(all_b - all_a),
    )


# ---------------------------------------------------------------------------------------------
# concept categories


def categorise(concept_feats: torch.Tensor, category_feats: torch.Tensor,
               category_names: Sequence[str]) -> tuple[list[str], torch.Tensor]:
    """Zero-shot category of each concept with CLIP text features.

    ``sim[c, g] = cos(text(concept c), text(prompt of category g))`` and ``category(c) = argmax_g sim``
    (ties: the first category). Encode the prompts of :data:`DEFAULT_CATEGORIES` (or your own) with the
    same CLIP model and ``encode_concepts`` as the concepts. Returns the category names (one per concept)
    and ``sim`` (concepts x categories, float32).
    """
    if category_feats.shape[0] != len(category_names):
        raise ValueError(f"{category_feats.shape[0]} category features but {len(category_names)} names")
    c = torch.nn.functional.normalize(concept_feats.float(), dim=-1)
    g = torch.nn.functional.normalize(category_feats.float(), dim=-1)
    sim = c @ g.T
    return [category_names[i] for i in sim.argmax(dim=1).tolist()], sim


def category_counts(rows: Iterable[Row], concept_category: Mapping[str, str]) -> list[tuple[str, int]]:
    """``(category, neurons whose label is in it)``, most first, ties by name; unknown labels -> ``other``."""
    counts = Counter(concept_category.get(str(r["label"]), "other") for r in rows)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# ---------------------------------------------------------------------------------------------
# all at once


def summarise(rows: Sequence[Row], threshold: float | Mapping[str, float] | None = None,
              top_n: int = 10) -> dict:
    """The study's headline numbers in one JSON-friendly dict (see the functions above for definitions)."""
    rows = list(rows)
    red = redundancy(rows)
    div = diversity(rows)
    top = top_concept(rows)
    out = {
        "neurons": len(rows),
        "neurons_per_layer": neuron_counts(rows),
        "distinct_concepts": distinct_concepts(rows),
        "top_concept": {"label": top[0], "neurons": top[1]} if top else None,
        "top_concepts": [{"label": c, "neurons": k} for c, k in concept_counts(rows)[:top_n]],
        "count_histogram": count_histogram(rows),
        "redundancy": {"groups": red.n_groups, "neurons": red.n_neurons,
                       "largest_label": red.largest_label, "largest_size": red.largest_size},
        "diversity": {"entropy_bits": div.entropy_bits, "normalised": div.normalised, "evenness": div.evenness},
    }
    if threshold is not None:
        labelled, total, share = semantic_share(rows, threshold)
        out["semantic"] = {"labelled": labelled, "total": total, "share": share,
                           "threshold": dict(threshold) if isinstance(threshold, Mapping) else threshold}
    return out
