"""Sparseness (Chalasani et al., "Concise Explanations of Neural Networks using Adversarial Training", ICML 2020):
the Gini index of the map's absolute values.

With the map's absolute values sorted ascending, :math:`a_1 \\le \\dots \\le a_n`,

.. math:: G = \\frac{\\sum_{i=1}^{n} (2i - n - 1)\\, a_i}{n \\sum_{i=1}^{n} a_i}

0 when every pixel carries the same evidence, towards 1 when one pixel carries it all: higher is sparser, which
the paper takes for more concise. As Quantus 0.6 does, the absolute map is divided by its maximum and 1e-7 is added
to every value first (so a map of zeros scores 0, not nan).
"""

from __future__ import annotations

import numpy as np

from ..base import Metric, MetricInput, NoParams, Passes, Score

EPSILON = 1e-7


def gini(values: np.ndarray, epsilon: float = EPSILON) -> float:
    """The Gini index of non-negative ``values`` (any shape), with ``epsilon`` added to each (Quantus's
    :data:`EPSILON`; :func:`.concentration.gini` passes 0)."""
    a = np.sort(values.astype(np.float64).ravel() + epsilon)
    n = a.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * ranks - n - 1) * a).sum() / (n * a.sum()))


def sparseness(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """Each method's Sparseness (module docstring); no model pass."""
    found = {}
    for method, saliency in inputs.maps.items():
        magnitude = np.abs(saliency.astype(np.float64))
        peak = magnitude.max()
        found[method] = Score.of(gini(magnitude / peak if peak > 0 else magnitude))
    return found


METRIC = Metric(
    name="sparseness", title="Sparseness", family="complexity",
    citation="Chalasani et al., Concise Explanations of Neural Networks using Adversarial Training, ICML 2020",
    higher_is_better=True, compute=sparseness, cost=lambda params: Passes(0, 0))
