"""The ``attribution`` section of ``results.json``: the explained model, the methods, every image's record
(:mod:`.images`) and the numbers across images (comparison, map measures, the randomisation check)."""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

from .dataset import DatasetFindings
from .base import ModelInfo, Preprocess, Record, Skipped
from .images import ImageRecord
from .scores import MetricInfo, Trust


class AttributionModel(ModelInfo):
    layer: str
    """The explained layer (``attribution.layer``)."""
    preprocess: Preprocess
    num_classes: int
    preprocess_source: Optional[str] = None
    """Where the preprocessing came from (the model source's own config, the study's table, ...)."""


class TokenLayer(Record):
    """A token layer (ViT, Swin) as the CAMs saw it."""

    layout: str
    """How its tokens lie on the patch grid."""
    implementations: dict[str, str]
    """Per method: what ran on it."""


FAMILY_TITLES: dict[str, str] = {"cam": "CAM", "gradient": "Gradient", "perturbation": "Perturbation",
                                 "propagation": "Propagation", "attention": "Attention"}
"""The method families in the order the pages show them (``Method.family`` of the registry), with their headings."""


class MethodInfo(Record):
    name: str
    title: str
    citation: str
    family: Optional[str] = None
    """How the method finds its evidence (a key of :data:`FAMILY_TITLES`); the pages group the methods by it."""
    settings: dict[str, str] = {}
    """Its parameters as the methodology page shows them (``Explainer.settings()`` less its baseline)."""
    baseline: Optional[str] = None
    """What the method compares the image with (its ``Baseline`` setting), for the methods that have one."""


class MethodFamily(NamedTuple):
    """The methods of one family, as the pages group them."""

    key: str
    title: str
    methods: list[MethodInfo]


class Accuracy(Record):
    """Top-1 accuracy on the images whose true class is known."""

    labelled: int
    correct: int
    wrong: list[str]
    """Titles of the misread images."""


class Stats(Record):
    """Mean and standard deviation over ``n`` images (None when n = 0)."""

    mean: Optional[float]
    std: Optional[float]
    n: int


class MethodRow(Record):
    """One method across the images."""

    method: str
    deletion_auc: Stats
    insertion_auc: Stats
    beats_random_deletion: int
    beats_random_insertion: int
    salient_drop_wins: int
    """Images where deleting the 20 % most salient pixels lowers the probability more than the 20 % least."""
    region_agreement: dict[str, Optional[Stats]]
    """Per method with regions: this method's superpixel Spearman with it (None for the method itself)."""
    images: int


class ConfidencePoint(Record):
    id: str
    title: str
    confidence: float
    agreement: float


class ConfidenceVsAgreement(Record):
    points: list[ConfidencePoint]
    spearman: Optional[float]
    p_value: Optional[float]
    n: int


class Comparison(Record):
    methods: list[MethodRow]
    agreement_matrix: dict[str, dict[str, Optional[float]]]
    """Mean pixel-level Spearman of each pair of methods (1 on the diagonal)."""
    confidence_vs_agreement: ConfidenceVsAgreement


class MethodMeasures(Record):
    images_with_boxes: int
    energy_in_boxes: Optional[float]
    energy_chance: Optional[float]
    energy_above_chance: int
    spread_half_max: Optional[float]
    gini: Optional[float]


class StabilitySummary(Record):
    images: int
    mean_spearman: Optional[float]
    seeds: list[int]


class MapMeasuresSummary(Record):
    methods: dict[str, MethodMeasures]
    seed_stability: Optional[dict[str, StabilitySummary]] = None


class RandomisedSummary(Record):
    """A method's rank correlation between trained and randomised maps, over the images (a constant map has none)."""

    images: int
    ranked: int
    mean: Optional[float]
    min: Optional[float]
    max: Optional[float]


class AttributionSection(Record):
    model: AttributionModel
    methods: list[MethodInfo]
    target_rule: Union[int, str]
    parameters: dict[str, str]
    """Settings shown on the methodology page, as text."""
    images: list[ImageRecord]
    skipped: list[Skipped]
    accuracy: Accuracy
    comparison: Optional[Comparison] = None
    map_measures: Optional[MapMeasuresSummary] = None
    randomised: Optional[dict[str, RandomisedSummary]] = None
    dataset: Optional[DatasetFindings] = None
    """Findings across all images with bootstrap intervals (studies with metrics)."""
    token_layer: Optional[TokenLayer] = None
    metric_catalogue: Optional[list[MetricInfo]] = None
    """The registry metrics the study ran (``[metrics]``), in ``metrics.run`` order."""
    trust: Optional[Trust] = None
    """"Which method to trust": the metrics over the images (studies with registry metrics)."""

    def titles(self) -> dict[str, str]:
        """Method name -> its title."""
        return {m.name: m.title for m in self.methods}

    def families(self) -> list[MethodFamily]:
        """The methods grouped by family, in :data:`FAMILY_TITLES` order and study order within one; families
        without a method are left out, methods of an unknown family (or none) come last, as "Other"."""
        known = [MethodFamily(key, title, [m for m in self.methods if m.family == key])
                 for key, title in FAMILY_TITLES.items()]
        other = MethodFamily("other", "Other", [m for m in self.methods if m.family not in FAMILY_TITLES])
        return [f for f in [*known, other] if f.methods]

    def region_methods(self) -> list[str]:
        """The methods whose explanations have regions (their entries carry ``segments``), in study order."""
        return [m.name for m in self.methods if any(r.methods[m.name].segments is not None for r in self.images)]
