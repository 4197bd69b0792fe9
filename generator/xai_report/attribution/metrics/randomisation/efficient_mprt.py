"""Efficient Model Parameter Randomisation Test (Hedstroem et al., "Sanity Checks Revisited: An Exploration to
Repair the Model Parameter Randomisation Test", XAI in Action workshop, NeurIPS 2023): instead of
comparing maps layer by layer, the relative rise of the explanation's complexity from the trained to the fully
randomised model (:func:`.cascade.fully_randomised`).

With :math:`H` the discrete entropy (natural log) of the histogram of the map's values in :math:`b` equal bins,

.. math:: \\mathrm{eMPRT} = \\frac{H(\\Phi_{\\theta_{\\mathrm{rand}}}(x)) - H(\\Phi_\\theta(x))}{H(\\Phi_\\theta(x))}

Higher is better: a method whose map turns to noise when the weights are random depends on what the model learned.
As Quantus 0.6's defaults (``discrete_entropy``, ``abs=False``, ``normalise=False``, no ``n_bins`` rule: 100 bins),
the maps are taken as they are, signed. :math:`\\Phi_\\theta` is the stored map (Quantus re-runs the method on the
trained model; the same map for a deterministic method). A constant stored map (entropy 0) gives no number.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.stats import entropy

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from ..rerun import explain, split
from .cascade import NO_LAYERS, randomisable, fully_randomised


class EfficientMPRTParams(BaseModel):
    """``[metrics.efficient_mprt]``: the histogram's bins."""

    model_config = ConfigDict(extra="forbid", strict=True)

    n_bins: int = 100
    """Equal-width bins of the entropy's histogram (Quantus's default 100)."""

    def check(self) -> None:
        if self.n_bins < 2:
            raise ConfigError("metrics.efficient_mprt: n_bins >= 2 is required")


def discrete_entropy(a: np.ndarray, n_bins: int) -> float:
    """The entropy of the histogram of ``a``'s values in ``n_bins`` equal bins."""
    histogram, _ = np.histogram(a, bins=n_bins)
    return float(entropy(histogram))


def efficient_mprt(inputs: MetricInput, params: EfficientMPRTParams, seed: int) -> dict[str, Score]:
    """Each re-runnable method's eMPRT (module docstring): one re-run per method on one randomised copy shared by
    the methods."""
    runs, found = split(inputs)
    if not runs or not randomisable(inputs.model):
        return found | {m: Score.absent(NO_LAYERS) for m in runs}
    model = fully_randomised(inputs.model, seed)
    for m, run in runs.items():
        before = discrete_entropy(inputs.maps[m], params.n_bins)
        after = discrete_entropy(explain(run, model, inputs.x, inputs.target), params.n_bins)
        with np.errstate(divide="ignore", invalid="ignore"):
            found[m] = Score.of(np.float64(after - before) / before)
    return found


METRIC = Metric(
    name="efficient_mprt", title="Efficient Model Parameter Randomisation Test", family="randomisation",
    citation="Hedstroem et al., Sanity Checks Revisited: An Exploration to Repair the Model Parameter "
             "Randomisation Test, XAI in Action workshop, NeurIPS 2023",
    higher_is_better=True, compute=efficient_mprt, params=EfficientMPRTParams, needs=frozenset({"explain"}),
    cost=lambda params: Passes(1, 1))
"""Cost: one re-run of the method on the randomised copy (counted as a forward and a backward pass)."""
