"""Max-Sensitivity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations", NeurIPS 2019):
the largest relative change of the explanation under a small perturbation of the input.

For the explanation :math:`\\Phi(x)` of the explained class and :math:`n` inputs :math:`x + \\delta_k` with
:math:`\\delta_k` uniform in :math:`[-r, r]` per input value (on the model's normalised input),

.. math:: \\mathrm{SENS}_{\\max} = \\max_{k} \\frac{\\lVert \\Phi(x) - \\Phi(x + \\delta_k) \\rVert_F}
          {\\lVert \\Phi(x) \\rVert_F}

Lower is better (an explanation that a perturbation the model barely sees cannot move). As Quantus 0.6 (its
defaults: ``abs=False``, ``normalise=False``, the Frobenius norms, ``batch_uniform_noise`` with
``lower_bound=0.2``), the map keeps its sign and is not normalised; the denominator is the stored map's norm, so a
map of zeros gives no number. A perturbed input whose explanation is nan is left out of the maximum (``nanmax``).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from ..rerun import nan_max, split
from .perturbed import perturbed_runs, uniform


class MaxSensitivityParams(BaseModel):
    """``[metrics.max_sensitivity]``: the number of perturbed inputs and the noise radius."""

    model_config = ConfigDict(extra="forbid", strict=True)

    nr_samples: int = 10
    """Perturbed inputs per image. Quantus's default is 200; 10 keeps a 224 px
    CNN's Grad-CAM within seconds per image on a 2-core laptop, at the price of a lower estimate of the maximum."""
    lower_bound: float = 0.2
    """The radius :math:`r` of the uniform noise, in the model's normalised input units (Quantus's ``lower_bound``,
    default 0.2)."""

    def check(self) -> None:
        if self.nr_samples < 1 or not self.lower_bound > 0:
            raise ConfigError("metrics.max_sensitivity: nr_samples >= 1 and lower_bound > 0 are required")


def max_sensitivity(inputs: MetricInput, params: MaxSensitivityParams, seed: int) -> dict[str, Score]:
    """Each re-runnable method's Max-Sensitivity (module docstring): ``nr_samples`` re-runs per method, the
    perturbed inputs shared by the methods."""
    runs, found = split(inputs)
    if not runs:
        return found
    original = {m: inputs.maps[m].astype(np.float64) for m in runs}
    ratios: dict[str, list[float]] = {m: [] for m in runs}
    with np.errstate(divide="ignore", invalid="ignore"):
        for _, maps in perturbed_runs(inputs, runs, uniform(params.lower_bound), params.nr_samples, seed):
            for m, perturbed in maps.items():
                ratios[m].append(float(np.linalg.norm(original[m] - perturbed) / np.linalg.norm(original[m])))
    return found | {m: Score.of(nan_max(values)) for m, values in ratios.items()}


METRIC = Metric(
    name="max_sensitivity", title="Max-Sensitivity", family="robustness",
    citation="Yeh et al., On the (In)fidelity and Sensitivity of Explanations, NeurIPS 2019",
    higher_is_better=False, compute=max_sensitivity, params=MaxSensitivityParams, needs=frozenset({"explain"}),
    cost=lambda params: Passes(params.nr_samples, params.nr_samples))
"""Cost: one re-run of the method per perturbed input, counted as one forward and one backward pass (a gradient
method or a CAM; a perturbation method such as LIME or RISE costs its own passes per re-run)."""
