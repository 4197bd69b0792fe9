"""LIME superpixel explanations (Ribeiro, Singh & Guestrin, KDD 2016) with the ``lime`` package.

LIME segments the image into superpixels (quickshift, the package's default), samples ``num_samples``
on/off patterns, hides switched-off superpixels with their mean colour, and fits a weighted ridge
regression of the explained class's probability on the patterns. A superpixel's weight is its
coefficient. Seeds fix both the segmentation and the sampling, so the explanation is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import numpy as np
import torch
from lime import lime_image
from lime.wrappers.scikit_image import SegmentationAlgorithm

from ..data import normalise
from ..models import Preprocess
from .inference import BatchScorer


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

    def pixel_map(self) -> np.ndarray:
        """Each pixel gets its superpixel's weight (float32 HxW), for pixel-level comparisons."""
        lookup = np.zeros(int(self.segments.max()) + 1, dtype=np.float32)
        for seg, w in self.weights.items():
            lookup[seg] = w
        return lookup[self.segments]

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
) -> LimeResult:
    """Explain ``class_index`` for the HxWx3 [0, 1] image ``rgb`` (the exact pixels the model sees)."""
    segmenter = SegmentationAlgorithm("quickshift", kernel_size=kernel_size, max_dist=max_dist, ratio=ratio,
                                      random_seed=seed)
    explainer = FastLimeImageExplainer(random_state=seed)
    explanation = explainer.explain_instance(
        rgb.astype(np.float64),
        make_classifier_fn(model, pre),
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
