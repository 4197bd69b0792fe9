"""Model Parameter Randomisation Test, cascading (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018,
Sec. 3.1): randomise the model's layers from the output down, one step at a time, and measure after each step how
similar the method's explanation of the same image and class still is to the trained model's.

With :math:`\\Phi_\\theta` the explanation under the trained weights and :math:`\\Phi_{\\theta_k}` under the
weights whose first :math:`k` steps are re-drawn (:mod:`.cascade`),

.. math:: s_k = \\rho_S\\big(|\\Phi_\\theta(x)|,\\ |\\Phi_{\\theta_k}(x)|\\big), \\qquad k = 1 .. K

Spearman's rank correlation over the pixels (Quantus 0.6's default ``similarity_func``; its ``abs=True`` and
``normalise=True``, the latter without effect on ranks). :attr:`Score.curve` is :math:`(s_1, .., s_K)`, step
:math:`k` named by ``cascade.steps(model, layer_order, depth)[k - 1]``; :attr:`Score.value` is :math:`s_K`, the
similarity after the whole model is randomised (Quantus's ``return_last_correlation``). Lower is better: a method
that depends on what the model learned changes when the weights are random. A step whose map is constant gives
nan in the curve (no ranking) and, at the last step, no value.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.stats import spearmanr

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from ..rerun import explain, split
from .cascade import NO_LAYERS, randomisable, Order, cascade


class MPRTParams(BaseModel):
    """``[metrics.mprt]``: the order and the granularity of the cascade."""

    model_config = ConfigDict(extra="forbid", strict=True)

    layer_order: Order = "top_down"
    """``"top_down"`` (the paper's cascading order and Quantus's default) or ``"bottom_up"``."""
    depth: int = 2
    """Layers whose qualified names share their first ``depth`` parts are randomised in one step (:mod:`.cascade`):
    2 gives the blocks of a timm or torchvision CNN (12 steps for EfficientNet-Lite0, where Quantus's every-layer
    cascade has 99), as the paper randomises Inception v3 by blocks; a depth beyond the deepest name (e.g. 20) gives
    Quantus's steps."""

    def check(self) -> None:
        if self.depth < 1:
            raise ConfigError("metrics.mprt: depth >= 1 is required (e.g. 20: one step per layer, as Quantus)")


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of the magnitudes of two maps over their pixels (nan when either is constant)."""
    if np.ptp(np.abs(a)) == 0 or np.ptp(np.abs(b)) == 0:
        return float("nan")
    return float(spearmanr(np.abs(a).ravel(), np.abs(b).ravel())[0])


def mprt(inputs: MetricInput, params: MPRTParams, seed: int) -> dict[str, Score]:
    """Each re-runnable method's cascading randomisation curve (module docstring): one re-run per method and step,
    each randomised copy shared by the methods."""
    runs, found = split(inputs)
    if not runs or not randomisable(inputs.model):
        return found | {m: Score.absent(NO_LAYERS) for m in runs}
    curves: dict[str, list[float]] = {m: [] for m in runs}
    for _, model in cascade(inputs.model, params.layer_order, params.depth, seed):
        for m, run in runs.items():
            curves[m].append(similarity(inputs.maps[m], explain(run, model, inputs.x, inputs.target)))
    return found | {m: Score.of(curve[-1], tuple(curve)) for m, curve in curves.items()}


METRIC = Metric(
    name="mprt", title="Model Parameter Randomisation Test (cascading)", family="randomisation",
    citation="Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018",
    higher_is_better=False, compute=mprt, params=MPRTParams, needs=frozenset({"explain"}),
    cost=lambda params: Passes(1, 1))
"""Cost per step of the cascade: one re-run of the method (counted as a forward and a backward pass); the number
of steps is ``len(cascade.steps(model, layer_order, depth))`` (12 for EfficientNet-Lite0 at the default depth)."""
