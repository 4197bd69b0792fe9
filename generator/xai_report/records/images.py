"""The records of one explained image (``attribution.images[]``): predictions, each method's entry, the neurons
behind the prediction, the map measures, the randomisation check and the faithfulness and agreement metrics."""

from __future__ import annotations

from typing import Any, Iterator, Optional

from pydantic import ConfigDict, SerializerFunctionWrapHandler, model_serializer

from .scores import Scores
from .base import Record

FOLDERS = ("maps/", "overlays/")
"""Where an image record's raw results lie in the output folder."""


class TrueClass(Record):
    index: int
    name: str
    wnid: Optional[str]
    """The class's WordNet id (None for a model whose classes have none: your own labels)."""


class Prediction(Record):
    index: int
    name: str
    probability: float


class Target(Record):
    """The explained class and why it was chosen."""

    index: int
    name: str
    rule: str
    """``predicted``, ``label`` or ``fixed``."""
    why: str
    probability: float


class MethodEntry(Record):
    """One method's explanation of the image. ``extra="allow"``: a method may add fields and arrays of its own
    (``Explanation.fields`` and ``files``, e.g. a ``maps/...npy`` path); they follow the declared ones."""

    model_config = ConfigDict(extra="allow")

    class_index: int
    map: str
    """``maps/<image>_<method>.npy``: float32 HxW at the model's input resolution."""
    overlay: str
    segments: Optional[str] = None
    """Methods with regions (LIME): ``maps/<image>_<method>_segments.npy``, int32 region ids."""
    weights: Optional[dict[str, float]] = None
    """Methods with regions: region id -> weight."""
    top_segments: Optional[list[int]] = None
    """LIME: the superpixels outlined on the overlay."""
    score: Optional[float] = None
    """LIME: R^2 of the local linear model."""
    convergence_delta: Optional[float] = None
    """Integrated Gradients and DeepLIFT: the completeness gap captum reports, ``Σ map - (f(x) - f(baseline))`` for
    the explained class's logit ``f`` (0 for an exact attribution)."""
    implementation: Optional[str] = None
    """On a token layer: which implementation ran (ours on the patch grid, or the library's)."""
    layer_layout: Optional[str] = None
    """On a token layer: how its tokens were put on the patch grid."""


class UnitContribution(Record):
    unit: int
    contribution: float
    share: Optional[float]
    """The unit's part of the positive evidence (None when there is none)."""
    map: Optional[str] = None
    """``overlays/<image>_unit<j>.jpg``: where the unit fires on the photo."""


class Neurons(Record):
    """The explained logit decomposed over the units of ``layer`` (see ``attribution/contributions.py``), or
    ``absent``: why it cannot be."""

    layer: str
    absent: Optional[str] = None
    logit: Optional[float] = None
    bias: Optional[float] = None
    positive_total: Optional[float] = None
    negative_total: Optional[float] = None
    units_total: Optional[int] = None
    units_positive: Optional[int] = None
    shown_share: Optional[float] = None
    units: list[UnitContribution] = []
    contributions: list[float] = []
    features: Optional[str] = None
    """A token head (ViT, Swin): which features its linear layer reads (then ``units`` are those features)."""


class RandomisedMap(Record):
    """A method's map on the randomised model against the trained model's."""

    spearman: Optional[float]
    overlay: str


# The records below, down to Metrics, come from the artifact store, which keeps JSON keys sorted: their fields
# are declared in that order, so that results.json keeps the order it always had.

class Boxes(Record):
    """The object boxes of an image in the model's input frame, or why there are none (``absent``)."""

    absent: Optional[str] = None
    area_share: Optional[float] = None
    count: Optional[int] = None
    objects: Optional[list[str]] = None


class MapMeasures(Record):
    energy_in_boxes: Optional[float]
    gini: Optional[float]
    spread_half_max: Optional[float]


class ImageMapMeasures(Record):
    boxes: Boxes
    methods: dict[str, MapMeasures]


class SeedPair(Record):
    a: int
    b: int
    iou_top10: Optional[float]
    spearman: Optional[float]


class SeedStability(Record):
    mean_iou_top10: Optional[float]
    mean_spearman: Optional[float]
    min_spearman: Optional[float]
    pairs: list[SeedPair]
    seeds: list[int]


class MethodFaithfulness(Record):
    beats_random_deletion: bool
    beats_random_insertion: bool
    deletion_auc: float
    deletion_curve: list[float]
    drop_least_20: float
    """The explained class's probability after the 20 % least salient pixels are replaced."""
    drop_most_20: float
    """The same after the 20 % most salient pixels are replaced."""
    insertion_auc: float
    insertion_curve: list[float]


class RandomBaseline(Record):
    deletion_auc: float
    deletion_auc_std: float
    insertion_auc: float
    insertion_auc_std: float
    low_res_hw: list[int]
    seeds: list[int]


class Faithfulness(Record):
    fractions: list[float]
    methods: dict[str, MethodFaithfulness]
    random: RandomBaseline


class PairAgreement(Record):
    a: str
    b: str
    iou_top10: Optional[float]
    iou_top20: Optional[float]
    spearman: Optional[float]


class RegionAgreement(Record):
    superpixel_spearman: Optional[float]
    top5_overlap: Optional[float]


class Agreement(Record):
    """``pairs``, and under the name of each method with regions, every other method's agreement with it
    region by region (``extra="allow"``: one key per such method, typed)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, dict[str, RegionAgreement]]

    pairs: list[PairAgreement]

    def regions(self, owner: str) -> Optional[dict[str, RegionAgreement]]:
        """Every other method's agreement with ``owner``'s regions (None when it has none)."""
        return (self.__pydantic_extra__ or {}).get(owner)

    @model_serializer(mode="wrap")
    def _sorted(self, handler: SerializerFunctionWrapHandler):
        """Keys sorted, ``pairs`` among the methods' names, as the artifact store keeps them."""
        return dict(sorted(handler(self).items()))


class Metrics(Record):
    faithfulness: Faithfulness
    agreement: Agreement


class ImageRecord(Record):
    """One explained image."""

    id: str
    title: str
    file: str
    sha256: str
    true_class: Optional[TrueClass]
    predictions: list[Prediction]
    correct: Optional[bool]
    target: Target
    photo: str
    methods: dict[str, MethodEntry]
    neurons: Neurons
    randomised: Optional[dict[str, RandomisedMap]] = None
    map_measures: Optional[ImageMapMeasures] = None
    seed_stability: Optional[dict[str, SeedStability]] = None
    metrics: Optional[Metrics] = None
    scores: Optional[Scores] = None
    """The registry metrics (``[metrics]``): metric -> method -> score, for the trained model's maps."""
    randomised_scores: Optional[Scores] = None
    """The same metrics on the randomised twin's maps (``attribution.randomised_methods``)."""

    def files(self) -> list[str]:
        """Every output-relative path this record names (``maps/...``, ``overlays/...``), in order: the photo, each
        method's map and overlay and its own arrays, the unit maps, the randomised model's overlays, ..."""
        return [v for v in _strings(self.model_dump(mode="json", exclude_unset=True)) if v.startswith(FOLDERS)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)

