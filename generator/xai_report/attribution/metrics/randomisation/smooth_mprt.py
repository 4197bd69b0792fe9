"""Smooth Model Parameter Randomisation Test (Hedstroem et al., "Sanity Checks Revisited: An Exploration to Repair
the Model Parameter Randomisation Test", XAI in Action workshop, NeurIPS 2023): the cascading MPRT
(:mod:`.mprt`) on denoised explanations, so that the noise of a gradient map does not pass for a change.

Each explanation, of the trained model and of every step of the cascade, is the mean over :math:`N` noisy inputs,

.. math:: \\bar\\Phi(x) = \\frac{1}{N} \\sum_{i=1}^{N} \\Phi(x + \\epsilon_i), \\quad
          \\epsilon_i \\sim \\mathcal{N}(0, \\sigma^2),\\ \\sigma = m\\,(\\max x - \\min x),\\ \\epsilon_N = 0

(as Quantus 0.6: the last of the :math:`N` inputs is the clean one; fresh noise for every explanation, drawn in
the order trained model, step 1, .., step K), and :math:`s_k = \\rho_S(|\\bar\\Phi_\\theta|, |\\bar\\Phi_{\\theta_k}|)`.
As in the paper, the trained model's explanation is smoothed too (Quantus when it computes ``a_batch`` itself).
The steps go bottom up by default (the paper's recommendation and Quantus's default). :attr:`Score.curve` is
:math:`(s_1, .., s_K)`, named by ``cascade.steps(model, layer_order, depth)``; :attr:`Score.value` is :math:`s_K`.
Lower is better. The noisy inputs of each explanation are shared by the methods.
"""

from __future__ import annotations

import numpy as np
import torch

from ....errors import ConfigError
from ..base import Explain, Metric, MetricInput, Passes, Score
from ..rerun import add_noise, explain, split
from .cascade import NO_LAYERS, randomisable, Order, cascade
from .mprt import MPRTParams, similarity


class SmoothMPRTParams(MPRTParams):
    """``[metrics.smooth_mprt]``: the cascade's order and granularity (:class:`~.mprt.MPRTParams`) and the noise."""

    layer_order: Order = "bottom_up"
    """``"bottom_up"`` (the paper's and Quantus's default) or ``"top_down"``."""
    nr_samples: int = 10
    """Noisy inputs per explanation. Quantus's default is 50 (set from the paper's ImageNet experiment); 10 keeps a 224 px CNN affordable
    on a 2-core laptop (the mean is noisier)."""
    noise_magnitude: float = 0.1
    """:math:`m`: the noise's standard deviation as a fraction of the input's range (the paper's and Quantus's
    0.1)."""

    def check(self) -> None:
        if self.depth < 1 or self.nr_samples < 1 or not self.noise_magnitude >= 0:
            raise ConfigError("metrics.smooth_mprt: depth >= 1, nr_samples >= 1 and noise_magnitude >= 0 are required")


def noises(x: torch.Tensor, params: SmoothMPRTParams, rng: np.random.Generator) -> list[np.ndarray]:
    """The noise of one smoothed explanation: ``nr_samples - 1`` normal draws scaled by ``noise_magnitude`` times
    the input's range, then zeros (the clean input)."""
    xs = x.detach().cpu().numpy()
    std = params.noise_magnitude * (xs.max(keepdims=True) - xs.min(keepdims=True))
    drawn = [rng.standard_normal(xs.shape) * std for _ in range(params.nr_samples - 1)]
    return drawn + [np.zeros(xs.shape)]


def smoothed(run: Explain, model: torch.nn.Module, x: torch.Tensor, target: int,
             noise: list[np.ndarray]) -> np.ndarray:
    """The mean of the method's maps of ``x`` plus each noise."""
    return sum(explain(run, model, add_noise(x, n), target) for n in noise) / len(noise)


def smooth_mprt(inputs: MetricInput, params: SmoothMPRTParams, seed: int) -> dict[str, Score]:
    """Each re-runnable method's smooth cascading randomisation curve (module docstring): ``nr_samples`` re-runs
    per method for the trained model and for each step."""
    runs, found = split(inputs)
    if not runs or not randomisable(inputs.model):
        return found | {m: Score.absent(NO_LAYERS) for m in runs}
    rng = np.random.default_rng(seed)
    first = noises(inputs.x, params, rng)
    original = {m: smoothed(run, inputs.model, inputs.x, inputs.target, first) for m, run in runs.items()}
    curves: dict[str, list[float]] = {m: [] for m in runs}
    for _, model in cascade(inputs.model, params.layer_order, params.depth, seed):
        noise = noises(inputs.x, params, rng)
        for m, run in runs.items():
            curves[m].append(similarity(original[m], smoothed(run, model, inputs.x, inputs.target, noise)))
    return found | {m: Score.of(curve[-1], tuple(curve)) for m, curve in curves.items()}


METRIC = Metric(
    name="smooth_mprt", title="Smooth Model Parameter Randomisation Test", family="randomisation",
    citation="Hedstroem et al., Sanity Checks Revisited: An Exploration to Repair the Model Parameter "
             "Randomisation Test, XAI in Action workshop, NeurIPS 2023",
    higher_is_better=False, compute=smooth_mprt, params=SmoothMPRTParams, needs=frozenset({"explain"}),
    cost=lambda params: Passes(params.nr_samples, params.nr_samples))
"""Cost per step of the cascade, and once more for the trained model: ``nr_samples`` re-runs of the method (each
counted as a forward and a backward pass); the number of steps is ``len(cascade.steps(model, layer_order, depth))``."""
