"""LIME superpixel explanations (Ribeiro, Singh & Guestrin, KDD 2016) with the ``lime`` package.

LIME segments the image into superpixels (quickshift, the package's default), samples ``num_samples``
on/off patterns, hides switched-off superpixels with their mean colour, and fits a weighted ridge
regression of the explained class's probability on the patterns. A superpixel's weight is its
coefficient. Seeds fix both the segmentation and the sampling, so the explanation is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from lime import lime_image
from lime.wrappers.scikit_image import SegmentationAlgorithm

from ..models import Preprocess


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


def make_classifier_fn(model: torch.nn.Module, pre: Preprocess, batch_size: int):
    """LIME's ``classifier_fn``: NxHxWx3 float images in [0, 1] -> NxC softmax probabilities.

    Normalisation is one tensor op and inference runs without autograd bookkeeping.
    """
    device = next(model.parameters()).device
    mean = torch.tensor(pre.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def classify(images: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                chunk = torch.as_tensor(np.asarray(images[start:start + batch_size], dtype=np.float32), device=device)
                x = (chunk.permute(0, 3, 1, 2) - mean) / std
                out.append(torch.softmax(model(x), dim=1).float().cpu().numpy())
        return np.concatenate(out, axis=0)

    return classify


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
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    explanation = explainer.explain_instance(
        rgb.astype(np.float64),
        make_classifier_fn(model, pre, batch_size),
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
