"""Counts over a per-neuron table of CLIP-Dissect labels: how many neurons, which labels and how often, how
redundant and diverse the labels are, and how two models' labels overlap.

A *row* is a mapping with at least ``layer`` (str), ``unit`` (int) and ``label`` (str), as the stage builds
them (:mod:`.neurons`); other keys are ignored. Every function is pure and deterministic: equal counts are
ordered by concept name. The measures are those of the study this tool reproduces, over labels from
Oikarinen & Weng, "CLIP-Dissect", ICLR 2023; redundancy and diversity are defined in their docstrings.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

Row = Mapping[str, object]
Counts = Sequence[tuple[str, int]]
"""``(concept, number of neurons it labels)``, most frequent first, ties by concept name (:func:`concept_counts`)."""


def neuron_counts(rows: Iterable[Row]) -> dict[str, int]:
    """Neurons analysed per layer (in first-seen layer order)."""
    return dict(Counter(str(r["layer"]) for r in rows))


def concept_counts(rows: Iterable[Row]) -> list[tuple[str, int]]:
    """``(concept, number of neurons it labels)``, most frequent first; ties by concept name."""
    counts = Counter(str(r["label"]) for r in rows)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def count_histogram(counts: Counts) -> dict[int, int]:
    """Concept frequency histogram: ``{m: number of concepts that label exactly m neurons}``, m ascending."""
    return dict(sorted(Counter(count for _, count in counts).items()))


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


def diversity(counts: Counts) -> Diversity:
    """Shannon entropy of the label distribution (bits), normalised two ways (0.0 when undefined)."""
    n = sum(c for _, c in counts)
    h = -sum(c / n * math.log2(c / n) for _, c in counts) if n else 0.0
    h = max(h, 0.0)  # a single label gives -0.0
    norm = h / math.log2(n) if n > 1 else 0.0
    even = h / math.log2(len(counts)) if len(counts) > 1 else 0.0
    return Diversity(h, norm, even)


@dataclass(frozen=True)
class Overlap:
    n: int
    top_a: list[str]
    """Model A's ``n`` most frequent labels (fewer if it has fewer), most frequent first."""
    top_b: list[str]
    shared: list[str]
    """Concepts in both top-n lists, sorted by name."""
    overlap: float
    """``|A ∩ B| / n``."""
    jaccard: float
    """``|A ∩ B| / |A ∪ B|`` (0.0 when both are empty)."""
    only_a: list[str]
    """Labels of model A that label no neuron of model B (all labels, not only the top n), by name."""
    only_b: list[str]


def concept_overlap(counts_a: Counts, counts_b: Counts, n: int = 50) -> Overlap:
    """Compare two models' labels (their :func:`concept_counts`): overlap of their top-``n`` concepts and
    the concepts found in one only. When a model has fewer than ``n`` labels its list is shorter and
    ``overlap`` keeps dividing by ``n``."""
    top_a, top_b = [c for c, _ in counts_a[:n]], [c for c, _ in counts_b[:n]]
    a, b = set(top_a), set(top_b)
    union = a | b
    all_a, all_b = {c for c, _ in counts_a}, {c for c, _ in counts_b}
    return Overlap(
        n=n,
        top_a=top_a,
        top_b=top_b,
        shared=sorted(a & b),
        overlap=len(a & b) / n,
        jaccard=len(a & b) / len(union) if union else 0.0,
        only_a=sorted(all_a - all_b),
        only_b=sorted(all_b - all_a),
    )


def summarise(rows: Sequence[Row], top_n: int = 10, counts: Counts | None = None) -> dict:
    """A model's label numbers in one JSON-friendly dict (see the functions above for the definitions);
    pass ``counts`` when the :func:`concept_counts` of ``rows`` are already at hand."""
    counts = concept_counts(rows) if counts is None else counts
    red = redundancy(rows)
    div = diversity(counts)
    return {
        "neurons": len(rows),
        "neurons_per_layer": neuron_counts(rows),
        "distinct_concepts": len(counts),
        "top_concept": {"label": counts[0][0], "neurons": counts[0][1]} if counts else None,
        "top_concepts": [{"label": c, "neurons": k} for c, k in counts[:top_n]],
        "count_histogram": count_histogram(counts),
        "redundancy": {"groups": red.n_groups, "neurons": red.n_neurons,
                       "largest_label": red.largest_label, "largest_size": red.largest_size},
        "diversity": {"entropy_bits": div.entropy_bits, "normalised": div.normalised, "evenness": div.evenness},
    }
