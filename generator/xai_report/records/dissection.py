"""The ``dissection`` section of ``results.json``: per model its layers (each with its neuron rows and label
quality), its summary and self-check, and the comparison of every pair of models."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from .base import Preprocess, Record, Skipped


class NeuronRow(Record):
    """One neuron of a dissected layer: its label and runners-up, flags, importance, top images and strip."""

    unit: int
    label: str
    similarity: float
    """The label's soft-WPMI score (compared with the layer's ``threshold``)."""
    runners_up: list[tuple[str, float]]
    """The next concepts and their scores, best first."""
    passes: dict[str, bool]
    """Per null test (``shuffle``, ``random``): whether the label clears its threshold."""
    semantic: bool
    """The label is trusted: it clears every test and the neuron is not dead."""
    dead: bool
    mean_activation: float
    importance: float
    importance_kind: str
    rank: int
    """1 = the layer's most important neuron."""
    top_images: list[int]
    """Indices into ``dissection.probe.files``."""
    strip: str
    """``dissection/strips/<model>/<layer>_<unit>.jpg``."""
    class_name: Optional[str] = None
    """Classifier layers of a model with a self-check: the unit's own class."""
    self_check_rank: Optional[int] = None
    """With ``class_name``: the class's rank among the unit's labels (None: not in the top 5)."""
    category: str


class Thresholds(Record):
    shuffle: Optional[float]
    """The shuffled-activation null's threshold."""
    random: Optional[float]
    """The randomised-model null's threshold (95th percentile of its even units' top-1 scores)."""


class HalfQuality(Record):
    """Split-half stability and held-out precision of a layer's labels, each beside its chance level."""

    halves: list[int]
    neurons: int
    labelled: int
    stability: Optional[float]
    stability_labelled: Optional[float]
    stability_chance: Optional[float]
    precision: Optional[float]
    precision_chance: Optional[float]
    precision_labelled: Optional[float]
    precision_labelled_chance: Optional[float]
    above_own_shuffle_null: int
    above_own_shuffle_null_share: float


class RandomisedQuality(HalfQuality):
    held_out_units: int
    held_out_above_threshold: int
    held_out_above_threshold_share: Optional[float]
    """The randomised copy's odd (held-out) units the trained layer's threshold would label: a false-positive rate."""


class Quality(Record):
    thresholds: Thresholds
    threshold: float
    """The largest of the thresholds: what a label must reach."""
    trained: HalfQuality
    randomised: RandomisedQuality


class TopConcept(Record):
    label: str
    neurons: int


class Share(Record):
    labelled: int
    total: int
    share: float


class Layer(Record):
    """One dissected layer."""

    name: str
    slug: str
    importance_kind: str
    spatial: bool
    neurons: int
    distinct_concepts: int
    top_concept: Optional[TopConcept]
    null_threshold: float
    """The shuffled-activation null's threshold."""
    threshold: float
    """What a label must reach (``quality.threshold``)."""
    quality: Quality
    semantic: Share
    dead: int
    units: list[NeuronRow]
    most_important: list[int]


class CategorisedConcept(TopConcept):
    category: str


class Redundancy(Record):
    groups: int
    neurons: int
    largest_label: Optional[str]
    largest_size: int


class Diversity(Record):
    entropy_bits: float
    normalised: float
    evenness: float


class CategoryCount(Record):
    category: str
    neurons: int


class ModelSummary(Record):
    neurons: int
    neurons_per_layer: dict[str, int]
    distinct_concepts: int
    top_concept: Optional[TopConcept]
    top_concepts: list[CategorisedConcept]
    count_histogram: list[tuple[int, int]]
    """(neurons labelled alike, how many concepts label that many)."""
    redundancy: Redundancy
    diversity: Diversity
    semantic: Share
    dead: int
    categories: list[CategoryCount]


class SelfCheck(Record):
    """Do the classifier's neurons get their own class as label? Counts, shares and chance levels."""

    layer: str
    neurons: int
    top1_count: int
    top5_count: int
    top1: float
    top5: float
    chance_top1: float
    chance_top5: float
    class_or_ancestor_count: Optional[int] = None
    """Labels source only."""
    class_or_ancestor: Optional[float] = None
    """Labels source only."""


class Miss(Record):
    unit: int
    class_name: str = Field(alias="class")
    label: str
    rank: Optional[int]
    class_or_ancestor: Optional[bool]


class ModelFiles(Record):
    csv: str
    detailed_csv: str
    self_check_csv: Optional[str] = None


class DissectedModel(Record):
    key: str
    """The model's table name in the study file."""
    slug: str
    label: str
    description: str
    weights_id: str
    num_classes: int
    preprocess: Preprocess
    layers: list[Layer]
    summary: ModelSummary
    self_check: Optional[SelfCheck]
    randomised_self_check: Optional[SelfCheck]
    self_check_misses: list[Miss]
    files: ModelFiles

    def layer(self, name: str) -> Optional[Layer]:
        return next((layer for layer in self.layers if layer.name == name), None)


class ModelComparison(Record):
    a: str
    b: str
    a_label: str
    b_label: str
    n: int
    overlap: float
    """Share of the top-n concepts both models have (divided by n)."""
    jaccard: float
    shared: list[str]
    only_a: list[str]
    only_b: list[str]
    top_a: list[str]
    top_b: list[str]


class Citation(Record):
    name: str
    citation: str
    strips_citation: str


class Clip(Record):
    id: str
    arch: str
    pretrained: str


class Probe(Record):
    folders: list[str]
    images: int
    sha256: str
    files: list[str]


class Concepts(Record):
    file: str
    count: int
    sha256: str
    source: str
    """``clip`` or ``labels``; the other fields are the labels source's."""
    ancestors_file: Optional[str] = None
    min_classes: Optional[int] = None
    max_classes: Optional[int] = None
    ancestors: Optional[dict[str, list[str]]] = None
    """Each label's WordNet ancestors among the concepts."""


class Parameters(Record):
    pool: str
    token_pool: Optional[str] = None
    """Token layers: which token a neuron's value is read from (written only when not the default "cls")."""
    top_k: int
    a: float
    lam: float
    p_start: float
    p_end: float
    min_prob: float
    labels_per_neuron: int
    null_quantile: float
    null_shuffles: int
    seed: int
    random_null_quantile: float
    randomised_seed: int
    strip_images: int
    strip_thumb_px: int
    strip_outline_level: float
    layers: list[str]


class CategoryPrompt(Record):
    category: str
    prompt: str


class DissectionSection(Record):
    method: Citation
    clip: Optional[Clip]
    probe: Probe
    concepts: Concepts
    parameters: Parameters
    categories: list[CategoryPrompt]
    models: list[DissectedModel]
    comparisons: list[ModelComparison]
    files: list[str]
    assets: list[str]
    skipped: list[Skipped]

