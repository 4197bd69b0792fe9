"""Faithfulness Correlation (Bhatt, Weller & Moura, "Evaluating and Aggregating Feature-based Model Explanations",
IJCAI 2020): does the evidence a map gives a random subset of the input predict how much the class's score drops
when that subset is removed?

For runs r = 1..R, a random subset :math:`S_r` of ``subset_size`` of the input's C x H x W values is set to black
(:mod:`.baseline`), and

.. math:: \\mu_F = \\operatorname{corr}_r\\Big(\\sum_{i \\in S_r} a_i,\\; f(x) - f(x_{[S_r = \\text{black}]})\\Big)

(Pearson, over the runs), with f the class's logit and :math:`a_i` the map's value at the pixel of input value i
(the map counts once per channel, as Quantus broadcasts it). Higher is better, in [-1, 1]. The map's sign is kept
(Quantus's default normalisation divides by the largest absolute value, which a correlation does not see). The
subsets do not depend on the map, so every method of an image shares the same R perturbed inputs and passes.
Defaults as Quantus 0.6 (R = 100, 224 values, logits); Quantus's black is the image's smallest value.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from .baseline import black_input, class_outputs

NAME = "faithfulness_correlation"


class FaithfulnessCorrelationParams(BaseModel):
    """``[metrics.faithfulness_correlation]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    runs: int = 100
    """Random subsets (Quantus's ``nr_runs``; Bhatt et al. average over random subsets)."""
    subset_size: int = 224
    """Input values (of C x H x W) removed per run (Quantus's default)."""

    def check(self) -> None:
        if self.runs < 2 or self.subset_size < 1:
            raise ConfigError(f"metrics.{NAME}: runs >= 2 and subset_size >= 1 are required")


def subsets(n_values: int, size: int, runs: int, seed: int) -> np.ndarray:
    """(runs, size) flat indices into the C x H x W input, each row without repeats, from ``seed``."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n_values, size, replace=False) for _ in range(runs)])


def faithfulness_correlation(inputs: MetricInput, params: FaithfulnessCorrelationParams, seed: int) -> dict[str, Score]:
    """Each method's correlation (module docstring): ``runs + 1`` forward passes per image, shared by all methods."""
    x = inputs.x.detach()
    n_values = x[0].numel()
    if params.subset_size >= n_values:
        return {m: Score.absent(f"subset_size {params.subset_size} >= the input's {n_values} values")
                for m in inputs.maps}
    chosen = subsets(n_values, params.subset_size, params.runs, seed)
    black = black_input(x, inputs.preprocess).reshape(-1)
    perturbed = x.reshape(1, -1).repeat(params.runs, 1)
    rows = np.repeat(np.arange(params.runs), params.subset_size)
    perturbed[rows, chosen.ravel()] = black[chosen.ravel()]
    batch = torch.cat([x, perturbed.reshape(params.runs, *x.shape[1:])])
    scores = class_outputs(inputs.model, batch, inputs.target, inputs.batch_size, softmax=False)
    drops = scores[0] - scores[1:]
    plane = x.shape[-2] * x.shape[-1]
    found = {}
    for method, saliency in inputs.maps.items():
        evidence = saliency.astype(np.float64).ravel()[chosen % plane].sum(axis=1)
        if np.ptp(evidence) == 0 or np.ptp(drops) == 0:
            found[method] = Score.absent("constant map sums or score drops over the subsets: no correlation")
            continue
        found[method] = Score.of(float(np.corrcoef(evidence, drops)[0, 1]))
    return found


METRIC = Metric(
    name=NAME, title="Faithfulness Correlation", family="faithfulness",
    citation="Bhatt et al., Evaluating and Aggregating Feature-based Model Explanations, IJCAI 2020",
    higher_is_better=True, compute=faithfulness_correlation,
    cost=lambda params: Passes(params.runs + 1), params=FaithfulnessCorrelationParams)
