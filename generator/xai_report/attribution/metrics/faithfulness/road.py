"""ROAD, RemOve And Debias (Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", ICML 2022): remove a share of the pixels, most relevant first (MoRF) or least
relevant first (LeRF), fill them by noisy linear imputation (:mod:`.imputation`, our own code), and ask whether the
model still predicts the explained class.

For each percentage p, the ``int(H * W * p / 100)`` pixels ranked first (MoRF) or last (LeRF) by the map (ties in
raster order, :mod:`..maps`) are imputed in every channel, and the outcome is 1 when the model's top class is still
the target, else 0. The paper reads the MoRF curve (falling fast: faithful) against the LeRF curve (staying high:
faithful); the score here is their gap,

.. math:: \\text{ROAD} = \\frac{1}{|P|} \\sum_{p \\in P} \\big(\\text{LeRF}(p) - \\text{MoRF}(p)\\big) \\in [-1, 1],

higher is better; ``curve`` holds the MoRF outcomes, then the LeRF ones. The map's sign is kept (only its order
counts, so Quantus's default normalisation changes nothing). Every method of an image sees the same noise draws.

Quantus 0.6's ``ROAD`` returns the MoRF accuracy per percentage (its LeRF is ROAD of the negated map); with a
single-channel map on a colour image it fails (it ranks the map broadcast over the channels, then indexes pixels).
pytorch-grad-cam's ``metrics.road`` scores the change in the class's softmax confidence instead of the top-1
outcome, and combines MoRF and LeRF as (LeRF - MoRF) / 2 averaged over the percentages.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ...inference import BatchScorer
from ..base import Metric, MetricInput, Passes, Score
from ..maps import saliency_ranks
from .imputation import impute

NAME = "road"


class RoadParams(BaseModel):
    """``[metrics.road]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    percentages: list[int] = [10, 20, 30, 40, 50, 60, 70, 80, 90]
    """Shares of the pixels removed, in percent: the paper's figures use 10 to 90 in steps of 10 (Quantus's default
    1, 3, ..., 99 costs 5.5 times more)."""
    noise: float = 0.01
    """Standard deviation of the imputation's noise, in the normalised input's units (the paper's and Quantus's)."""

    def check(self) -> None:
        if not self.percentages or any(not 0 < p < 100 for p in self.percentages) or self.noise < 0:
            raise ConfigError(f"metrics.{NAME}: percentages must be a non-empty list of integers in 1..99 "
                              "and noise >= 0")


def removal_masks(saliency: np.ndarray, percentages: list[int]) -> np.ndarray:
    """(2, P, H, W) bool: the pixels removed most relevant first, then least relevant first, at each percentage."""
    ranks = saliency_ranks(saliency)
    counts = np.array([int(ranks.size * p / 100) for p in percentages])[:, None, None]
    return np.stack([ranks[None] < counts, ranks[None] >= ranks.size - counts])


def road(inputs: MetricInput, params: RoadParams, seed: int) -> dict[str, Score]:
    """Each method's ROAD gap (module docstring): 2 x len(percentages) imputations and forward passes per method,
    the imputed images of all methods in shared passes of ``inputs.batch_size``."""
    image = inputs.x[0].detach().cpu().double().numpy()
    fields = np.random.default_rng(seed).standard_normal((2, len(params.percentages), *image.shape))
    methods = list(inputs.maps)
    masks = np.stack([removal_masks(inputs.maps[m], params.percentages) for m in methods])  # (M, 2, P, H, W)
    jobs = list(np.ndindex(masks.shape[:3]))
    kept = np.zeros(masks.shape[:3])
    scorer = BatchScorer(inputs.model, chunk=inputs.batch_size)
    for start in range(0, len(jobs), inputs.batch_size):
        part = jobs[start:start + inputs.batch_size]
        batch = torch.from_numpy(np.stack([impute(image, masks[j], params.noise, fields[j[1:]]) for j in part]))
        top = scorer(batch.to(scorer.device, inputs.x.dtype)).argmax(dim=1).cpu().numpy()
        for j, predicted in zip(part, top):
            kept[j] = float(predicted == inputs.target)
    return {m: Score.of(float((kept[i, 1] - kept[i, 0]).mean()), tuple(kept[i].ravel().tolist()))
            for i, m in enumerate(methods)}


METRIC = Metric(
    name=NAME, title="ROAD (MoRF vs LeRF)", family="faithfulness",
    citation="Rong et al., A Consistent and Efficient Evaluation Strategy for Attribution Methods, ICML 2022",
    higher_is_better=True, compute=road,
    cost=lambda params: Passes(2 * len(params.percentages), solves=2 * len(params.percentages)), params=RoadParams)
