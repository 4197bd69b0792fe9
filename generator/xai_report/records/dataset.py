"""``attribution.dataset``: findings across every image of a study, with bootstrap intervals
(:mod:`xai_report.attribution.dataset_level`)."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field

from .base import Record


class Interval(Record):
    """A mean over images with its percentile-bootstrap interval (``low``/``high`` None with fewer than 2 values;
    everything None with none)."""

    mean: Union[float, None]
    low: Union[float, None]
    high: Union[float, None]
    n: int
    """Images the mean is over."""


class Accuracy(Interval):
    """Top-1 accuracy over the images with a true class."""

    correct: int


class Bootstrap(Record):
    """How the intervals were drawn."""

    samples: int
    """Resamples of the images (``attribution.bootstrap_samples``)."""
    seed: int
    confidence: float
    kind: Literal["percentile"]


class MethodFindings(Record):
    """One method over the images: its deletion and insertion AUC, and the share of images where it beats the smooth
    random map (deletion lower, insertion higher)."""

    method: str
    deletion_auc: Interval
    insertion_auc: Interval
    beats_random_deletion: Interval
    beats_random_insertion: Interval


class PairFindings(Record):
    """Two methods' mean pixel-level Spearman agreement over the images."""

    a: str
    b: str
    spearman: Interval


class ClassFindings(Record):
    """The same findings over the images of one true class."""

    class_: str = Field(alias="class")
    """The class name (``class`` in the file: a Python keyword here)."""
    images: int
    ids: list[str]
    accuracy: Accuracy
    methods: dict[str, MethodFindings]


class Disagreement(Record):
    """An image where the methods agree least (mean pairwise Spearman)."""

    id: str
    title: str
    spearman: float


class LeastFaithful(Record):
    """An image whose map of ``method`` is least faithful (insertion minus deletion AUC)."""

    id: str
    title: str
    method: str
    deletion_auc: float
    insertion_auc: float
    difference: float


class WrongPrediction(Record):
    """An image the model got wrong."""

    id: str
    title: str
    true_class: str
    predicted: str
    probability: float


class DatasetFindings(Record):
    """Findings across the whole image set: accuracy, each method's faithfulness, agreement, per class, and the
    images to look at first."""

    bootstrap: Bootstrap
    images: int
    accuracy: Accuracy
    methods: list[MethodFindings]
    agreement: list[PairFindings]
    classes: list[ClassFindings]
    disagree_most: list[Disagreement]
    least_faithful: list[LeastFaithful]
    wrong: list[WrongPrediction]
    wrong_total: int
