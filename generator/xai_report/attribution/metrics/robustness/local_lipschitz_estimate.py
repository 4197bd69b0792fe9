"""Local Lipschitz Estimate (Alvarez-Melis & Jaakkola, "On the Robustness of Interpretability Methods", ICML
Workshop on Human Interpretability 2018): the largest ratio of the change of the explanation to the change
of the input, over inputs near the explained one.

For the explanation :math:`\\Phi(x)` and :math:`n` inputs :math:`x' = x + \\delta_k`, :math:`\\delta_k` normal with
mean :math:`\\mu` and standard deviation :math:`\\sigma` per input value (on the model's normalised input),

.. math:: \\hat L(x) = \\max_{k} \\frac{\\lVert \\Phi(x) - \\Phi(x') \\rVert_2}{\\lVert x - x' \\rVert_2 + 10^{-10}}

Lower is better. The paper maximises over a ball with an optimiser (or over samples for black-box methods); as
Quantus 0.6 does, this samples (``batch_gaussian_noise``, ``perturb_std=0.1``). Also as Quantus's defaults
(``normalise=True``, ``abs=False``), each map -- the stored one and every re-run -- is divided by its own largest
magnitude first and keeps its sign. A perturbed input whose explanation is nan is left out of the maximum.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from ..rerun import nan_max, normalise_by_max, split
from .perturbed import gaussian, perturbed_runs

EPSILON = 1e-10


class LocalLipschitzEstimateParams(BaseModel):
    """``[metrics.local_lipschitz_estimate]``: the number of perturbed inputs and the noise."""

    model_config = ConfigDict(extra="forbid", strict=True)

    nr_samples: int = 10
    """Perturbed inputs per image. Quantus's default is 200; 10 keeps a 224 px CNN's Grad-CAM within seconds per
    image on a 2-core laptop, at the price of a lower estimate of the maximum."""
    perturb_mean: float = 0.0
    """The noise's mean (Quantus's default 0)."""
    perturb_std: float = 0.1
    """The noise's standard deviation, in the model's normalised input units (Quantus's default 0.1)."""

    def check(self) -> None:
        if self.nr_samples < 1 or not self.perturb_std > 0:
            raise ConfigError("metrics.local_lipschitz_estimate: nr_samples >= 1 and perturb_std > 0 are required")


def local_lipschitz_estimate(inputs: MetricInput, params: LocalLipschitzEstimateParams,
                             seed: int) -> dict[str, Score]:
    """Each re-runnable method's Local Lipschitz Estimate (module docstring): ``nr_samples`` re-runs per method,
    the perturbed inputs shared by the methods."""
    runs, found = split(inputs)
    if not runs:
        return found
    original = {m: normalise_by_max(inputs.maps[m].astype(np.float64)) for m in runs}
    ratios: dict[str, list[float]] = {m: [] for m in runs}
    draw = gaussian(params.perturb_mean, params.perturb_std)
    for noise, maps in perturbed_runs(inputs, runs, draw, params.nr_samples, seed):
        step = np.linalg.norm(noise) + EPSILON
        for m, perturbed in maps.items():
            ratios[m].append(float(np.linalg.norm(original[m] - normalise_by_max(perturbed)) / step))
    return found | {m: Score.of(nan_max(values)) for m, values in ratios.items()}


METRIC = Metric(
    name="local_lipschitz_estimate", title="Local Lipschitz Estimate", family="robustness",
    citation="Alvarez-Melis & Jaakkola, On the Robustness of Interpretability Methods, ICML WHI 2018",
    higher_is_better=False, compute=local_lipschitz_estimate, params=LocalLipschitzEstimateParams,
    needs=frozenset({"explain"}), cost=lambda params: Passes(params.nr_samples, params.nr_samples))
"""Cost: one re-run of the method per perturbed input, counted as one forward and one backward pass."""
