"""CLIP-Dissect (Oikarinen & Weng, ICLR 2023): label each neuron with the concept its top images show.

The algorithms, importable without the stage: activations, CLIP features, soft-WPMI labels, the null
threshold, importance, categories and the summaries' counts. :mod:`.stage` runs them over a study.
"""

from .activations import activation_maps, collect_activations, pool_output
from .categories import DEFAULT_CATEGORIES, categorise, category_counts
from .clip_text import encode_concepts, encode_images
from .importance import activation_importance, fc_importance
from .null import null_threshold
from .summaries import concept_counts, concept_overlap, count_histogram, diversity, neuron_counts, redundancy, summarise
from .wpmi import (
    NeuronLabel,
    clip_similarity,
    constant_neurons,
    label_neurons,
    peak_work_bytes,
    soft_wpmi,
    soft_wpmi_features,
)

__all__ = [
    "DEFAULT_CATEGORIES",
    "NeuronLabel",
    "activation_importance",
    "activation_maps",
    "categorise",
    "category_counts",
    "clip_similarity",
    "collect_activations",
    "concept_counts",
    "concept_overlap",
    "constant_neurons",
    "count_histogram",
    "diversity",
    "encode_concepts",
    "encode_images",
    "fc_importance",
    "label_neurons",
    "neuron_counts",
    "null_threshold",
    "peak_work_bytes",
    "pool_output",
    "redundancy",
    "soft_wpmi",
    "soft_wpmi_features",
    "summarise",
]
