"""Effective Complexity (Nguyen & Martinez, "On Quantitative Aspects of Model Interpretability", arXiv:2007.07584,
2020, Sec. 3): the number of pixels whose attribution exceeds a threshold,

.. math:: \\mu_E = \\big|\\{\\, i : |S(i)| / \\max_j |S(j)| > \\varepsilon \\,\\}\\big|,

lower is a more concise explanation (fewer pixels carry evidence). As Quantus 0.6's ``EffectiveComplexity``
(``abs=True``, max-normalised, ``eps = 1e-5``), the threshold is a share of the map's peak, so the count does
not depend on the map's scale; a map that is zero everywhere counts 0 (Quantus's number too). The count is over
the pixels of the model's input frame (50,176 at 224x224). Each map is normalised by its own peak: Quantus's
number for a batch of one map (Quantus 0.6 normalises a whole ``a_batch`` by one maximum, so in a batch a map's
count also depends on the other maps).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score

EPS = 1e-5
NON_FINITE = "the map has non-finite values"


class EffectiveComplexityParams(BaseModel):
    """``[metrics.effective_complexity]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    eps: float = EPS
    """The threshold, as a share of the map's largest absolute value: 1e-5, Quantus 0.6's default (the paper
    leaves it to the user)."""

    def check(self) -> None:
        if not 0.0 <= self.eps < 1.0:
            raise ConfigError(f"metrics.effective_complexity.eps must be in [0, 1) (a share of the map's peak), "
                              f"got {self.eps}")


def count_above(saliency: np.ndarray, eps: float) -> Score:
    """:math:`\\mu_E` of one map (module docstring)."""
    magnitude = np.abs(np.asarray(saliency, dtype=np.float64))
    if not np.isfinite(magnitude).all():
        return Score.absent(NON_FINITE)
    peak = magnitude.max()
    return Score.of(float(np.count_nonzero(magnitude / peak > eps)) if peak > 0 else 0.0)


def effective_complexity(inputs: MetricInput, params: EffectiveComplexityParams, seed: int) -> dict[str, Score]:
    """Each method's Effective Complexity (module docstring); no model pass."""
    return {method: count_above(saliency, params.eps) for method, saliency in inputs.maps.items()}


METRIC = Metric(
    name="effective_complexity", title="Effective Complexity", family="complexity",
    citation="Nguyen & Martinez, On Quantitative Aspects of Model Interpretability, arXiv 2020",
    higher_is_better=False, compute=effective_complexity, cost=lambda params: Passes(0, 0),
    params=EffectiveComplexityParams)
