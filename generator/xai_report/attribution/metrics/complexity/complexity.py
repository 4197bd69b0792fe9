"""Complexity (Bhatt et al., "Evaluating and Aggregating Feature-based Model Explanations", IJCAI 2020, Sec. 3.3):
the entropy of the map's fractional contribution distribution.

With :math:`P(i) = |S(i)| / \\sum_j |S(j)|` the share of the map's absolute evidence at pixel ``i``,

.. math:: \\mu_C = -\\sum_i P(i) \\ln P(i) \\qquad (0 \\ln 0 = 0),

0 when one pixel holds everything, :math:`\\ln n` when all ``n`` pixels hold the same: lower is a less complex
(more concise) explanation. Absolute values, as the paper and Quantus 0.6's ``Complexity`` (``abs=True``; its
max-normalisation cancels in ``P``; it adds 1e-12 inside the logarithm, which changes the sum by at most
``n * 1e-12``). A map that is zero everywhere (or not finite) has no number.
"""

from __future__ import annotations

import numpy as np

from ..base import Metric, MetricInput, NoParams, Passes, Score

ZERO = "the map is zero everywhere: it has no contribution distribution"
NON_FINITE = "the map has non-finite values"


def entropy_of_contributions(saliency: np.ndarray) -> Score:
    """:math:`\\mu_C` of one map (module docstring)."""
    magnitude = np.abs(np.asarray(saliency, dtype=np.float64))
    if not np.isfinite(magnitude).all():
        return Score.absent(NON_FINITE)
    total = magnitude.sum()
    if total == 0.0:
        return Score.absent(ZERO)
    share = magnitude[magnitude > 0] / total
    return Score.of(float(-(share * np.log(share)).sum()))


def complexity(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """Each method's Complexity (module docstring); no model pass."""
    return {method: entropy_of_contributions(saliency) for method, saliency in inputs.maps.items()}


METRIC = Metric(
    name="complexity", title="Complexity", family="complexity",
    citation="Bhatt et al., Evaluating and Aggregating Feature-based Model Explanations, IJCAI 2020",
    higher_is_better=False, compute=complexity, cost=lambda params: Passes(0, 0))
