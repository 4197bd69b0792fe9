"""LIME superpixel explanations (Ribeiro, Singh & Guestrin, KDD 2016) with the ``lime`` package.

LIME segments the image into superpixels (quickshift, the package's default), samples ``num_samples``
on/off patterns, hides switched-off superpixels with their mean colour, and fits a weighted ridge
regression of the explained class's probability on the patterns. A superpixel's weight is its
coefficient. Seeds fix both the segmentation and the sampling, so the explanation is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np
import torch
from lime import lime_image
from lime.wrappers.scikit_image import SegmentationAlgorithm
from torch import nn

from pydantic import BaseModel, ConfigDict

from ...data import PreparedImage, normalise
from ...errors import ConfigError
from ...models.preprocess import Preprocess
from ...numbers import rounded
from .. import overlays
from .explainer import Explainer, Explanation, Regions, Settings
from ..inference import BatchScorer


class Normalisation(Protocol):
    """Anything with per-channel ``mean`` and ``std`` (e.g. :class:`xai_report.models.Preprocess`)."""

    mean: Sequence[float]
    std: Sequence[float]


@dataclass
class LimeResult:
    segments: np.ndarray
    """int32 HxW superpixel ids."""
    weights: dict[int, float]
    """superpixel id -> LIME coefficient for the explained class."""
    intercept: float
    score: float
    """R^2 of the local linear model on its samples."""

    def regions(self) -> Regions:
        """The superpixels and their weights as region-level evidence."""
        return Regions(self.segments, self.weights)

    def top_segments(self, k: int) -> list[int]:
        """The ``k`` superpixels with the largest positive weight (ties broken by id)."""
        ranked = sorted(self.weights.items(), key=lambda kv: (-kv[1], kv[0]))
        return [seg for seg, w in ranked[:k] if w > 0]


def make_classifier_fn(
    model: torch.nn.Module,
    pre: Normalisation,
    device: torch.device | str | None = None,
    chunk: Optional[int] = None,
    freeze: bool = True,
) -> Callable[[np.ndarray], np.ndarray]:
    """LIME's ``classifier_fn``: N x H x W x 3 pixels in [0, 1] (uint8 is scaled by 1/255) -> N x classes
    softmax probabilities, ``softmax(model((x - mean) / std))``.

    The whole batch LIME hands over is normalised at once (:func:`xai_report.data.normalise`) and classified
    by a :class:`~xai_report.attribution.inference.BatchScorer`: without autograd, on CPU through a frozen
    copy made on the first call, in cache-sized chunks (``chunk`` images per pass overrides that). ``pre``
    supplies ``mean`` and ``std`` (a :class:`xai_report.models.Preprocess`); resizing and cropping must
    already have happened (LIME perturbs the cropped image the model sees). ``device`` defaults to the
    model's.
    """
    scorer = BatchScorer(model, freeze=freeze, chunk=chunk)
    device = torch.device(device) if device is not None else scorer.device

    def classify(images: np.ndarray) -> np.ndarray:
        pixels = np.asarray(images)
        with torch.inference_mode():
            x = normalise(pixels / np.float32(255) if pixels.dtype == np.uint8 else pixels, pre, device)
            return torch.softmax(scorer(x), dim=1).float().cpu().numpy()

    return classify


class FastLimeImageExplainer(lime_image.LimeImageExplainer):
    """``lime_image.LimeImageExplainer`` whose perturbed images are built with array operations.

    LIME (Ribeiro et al., KDD 2016) switches superpixels off at random and fits a linear model to the
    classifier's answers. The package builds each perturbed image in a Python loop, one boolean
    comparison of the whole segmentation per switched-off superpixel (about 20 per image); here one
    lookup per image maps the on/off row onto the pixels. The random rows are drawn exactly as the package
    draws them (same calls, same order), the images are the same, and ``classifier_fn`` is called with
    batches of the same sizes, so an explanation equals the package's for the same ``random_state``.
    """

    def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10):
        """(on/off rows, classifier outputs) for ``num_samples`` perturbed images; row 0 is the image itself."""
        n_features = np.unique(segments).shape[0]
        data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
        data[0, :] = 1
        # Column z switches off the pixels whose segment id is z (ids beyond the columns never switch off).
        width = max(n_features, int(segments.max()) + 1)
        labels = []
        for start in range(0, num_samples, batch_size):
            off = np.zeros((min(batch_size, num_samples - start), width), dtype=bool)
            off[:, :n_features] = data[start : start + batch_size] == 0
            batch = np.empty((len(off),) + image.shape, dtype=image.dtype)  # C order, like the package's
            batch[:] = image
            np.copyto(batch, fudged_image, where=off[:, segments][..., None], casting="unsafe")  # as `temp[m] = f[m]`
            labels.append(classifier_fn(batch))
        return data, np.concatenate(labels, axis=0)


def quickshift(kernel_size: float, max_dist: float, ratio: float, seed: int) -> SegmentationAlgorithm:
    """LIME's superpixels: the ``lime`` package's quickshift segmentation, called on the HxWx3 float64 image."""
    return SegmentationAlgorithm("quickshift", kernel_size=kernel_size, max_dist=max_dist, ratio=ratio,
                                 random_seed=seed)


def explain_lime(
    model: torch.nn.Module,
    rgb: np.ndarray,
    pre: Preprocess,
    class_index: int,
    *,
    num_samples: int = 1000,
    batch_size: int = 100,
    kernel_size: float = 4.0,
    max_dist: float = 200.0,
    ratio: float = 0.2,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> LimeResult:
    """Explain ``class_index`` for the HxWx3 [0, 1] image ``rgb`` (the exact pixels the model sees); the
    perturbed images are classified on ``device`` (by default the model's)."""
    segmenter = quickshift(kernel_size, max_dist, ratio, seed)
    explainer = FastLimeImageExplainer(random_state=seed)
    explanation = explainer.explain_instance(
        rgb.astype(np.float64),
        make_classifier_fn(model, pre, device=device),
        labels=(int(class_index),),
        top_labels=None,
        hide_color=None,
        num_samples=num_samples,
        batch_size=batch_size,
        segmentation_fn=segmenter,
        random_seed=seed,
    )
    k = int(class_index)
    return LimeResult(
        segments=np.asarray(explanation.segments, dtype=np.int32),
        weights={int(s): float(w) for s, w in explanation.local_exp[k]},
        intercept=float(explanation.intercept[k]),
        score=float(explanation.score[k] if isinstance(explanation.score, dict) else explanation.score),
    )


class LimeParams(BaseModel):
    """LIME's parameters, the study's ``[attribution.lime]`` table (the ``lime`` package's image explainer with
    quickshift superpixels)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    num_samples: int = 1000
    """On/off patterns the surrogate is fitted on."""
    num_features: int = 5
    """Superpixels outlined on the overlay (the largest positive weights)."""
    batch_size: int = 100
    """Patterns scored per forward pass."""
    kernel_size: float = 4.0
    max_dist: float = 200.0
    ratio: float = 0.2
    """Quickshift's parameters (the ``lime`` package's defaults)."""

    def check(self) -> None:
        if self.num_samples < 10 or self.num_features < 1 or self.batch_size < 1:
            raise ConfigError("attribution.lime: num_samples >= 10, num_features >= 1 and batch_size >= 1 are required")


class LimeExplainer(Explainer):
    """LIME through the :class:`~.explainer.Explainer` interface, with the study's ``[attribution.lime]``.

    The map gives every pixel its superpixel's weight; the regions are the superpixels and their weights;
    the method's own fields are the ``num_features`` superpixels with the largest positive weights (outlined
    on the overlay) and the local linear model's R^2 (rounded to 6 decimals).
    """

    def __init__(self, settings: Settings, params: LimeParams) -> None:
        self.lime = params
        self.preprocess = settings.preprocess
        self.device = settings.device
        self.seed = settings.seed

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        lime = self.lime
        result = explain_lime(model, image.rgb, self.preprocess, target, num_samples=lime.num_samples,
                              batch_size=lime.batch_size, kernel_size=lime.kernel_size, max_dist=lime.max_dist,
                              ratio=lime.ratio, seed=self.seed, device=self.device)
        regions = result.regions()
        top = result.top_segments(lime.num_features)
        return Explanation(map=regions.pixel_map(), regions=regions,
                           fields={"top_segments": top, "score": rounded(result.score)})

    def params(self) -> dict[str, Any]:
        lime = self.lime
        return {"num_samples": lime.num_samples, "batch_size": lime.batch_size, "kernel_size": lime.kernel_size,
                "max_dist": lime.max_dist, "ratio": lime.ratio, "num_features": lime.num_features, "seed": self.seed}

    def settings(self) -> dict[str, str]:
        lime = self.lime
        return {"Samples": str(lime.num_samples),
                "Superpixels": f"quickshift (kernel {lime.kernel_size}, max_dist {lime.max_dist}, ratio {lime.ratio}); "
                               f"the {lime.num_features} largest positive weights outlined",
                "Baseline": "hidden superpixels filled with their mean colour"}

    def overlay(self, rgb: np.ndarray, explanation: Explanation) -> bytes:
        """Yellow outlines around the top superpixels."""
        assert explanation.regions is not None
        return overlays.regions_overlay(rgb, explanation.regions.segments, explanation.fields["top_segments"])
