"""Pixel-Flipping (Bach, Binder, Montavon, Klauschen, Mueller & Samek, "On Pixel-Wise Explanations for Non-Linear
Classifier Decisions by Layer-Wise Relevance Propagation", PLOS ONE 2015): set the pixels to black in the map's
order, most relevant first, and follow the class's probability down.

After step k = 1..K the first ``round(k / K * H * W)`` pixels of the map's order (ties in raster order) are black
in every channel (:mod:`.baseline`); the curve is the softmax probability of the class after each step, and the
score its area over the flipped share, ``trapz(curve, dx=1/K)`` (Quantus's per-sample AUC divided by K): lower is
better. The map's sign is kept (only its order counts).

Where it differs from :func:`~.deletion_insertion.deletion_insertion`: there the removed pixels take a heavily
blurred copy's values and the curve starts at the unperturbed image; here they take a fixed value (black, as the
paper and Quantus) and the curve starts after the first step. Quantus 0.6's default flips one of the C x H x W
values per step (150,528 passes at 224 px); K = 64 whole-pixel steps is its ``features_in_step = 3 * H * W / 64``.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from ..maps import saliency_ranks
from ..perturbation import probabilities_of_masks
from .baseline import black_input
from .deletion_insertion import step_pixel_counts

NAME = "pixel_flipping"


class PixelFlippingParams(BaseModel):
    """``[metrics.pixel_flipping]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    steps: int = 64
    """Flipping steps K, each 1/K of the pixels (reduced from the paper's pixel by pixel to keep a 224 px CNN on
    two cores: 64 passes per map)."""

    def check(self) -> None:
        if self.steps < 2:
            raise ConfigError(f"metrics.{NAME}: steps >= 2 is required")


def pixel_flipping(inputs: MetricInput, params: PixelFlippingParams, seed: int) -> dict[str, Score]:
    """Each method's flipping curve and its area (module docstring): ``steps`` forward passes per method, the
    flipped images of all methods in shared passes."""
    x = inputs.x.detach()
    methods = list(inputs.maps)
    counts = step_pixel_counts(x.shape[-2] * x.shape[-1], params.steps)[1:]
    masks = np.concatenate([saliency_ranks(inputs.maps[m])[None] < counts[:, None, None] for m in methods])
    probs = probabilities_of_masks(inputs.model, x, black_input(x, inputs.preprocess), masks, inputs.target,
                                   inputs.batch_size).reshape(len(methods), params.steps)
    return {m: Score.of(float(np.trapezoid(curve, dx=1.0 / params.steps)), tuple(curve.tolist()))
            for m, curve in zip(methods, probs)}


METRIC = Metric(
    name=NAME, title="Pixel-Flipping", family="faithfulness",
    citation="Bach et al., On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance "
             "Propagation, PLOS ONE 2015",
    higher_is_better=False, compute=pixel_flipping, cost=lambda params: Passes(params.steps),
    params=PixelFlippingParams)
