"""Infidelity (Yeh, Hsieh, Suggala, Inouye & Ravikumar, "On the (In)fidelity and Sensitivity of Explanations",
NeurIPS 2019): how well does the map, read as a linear model, predict the class's score change under random
perturbations of the input?

With perturbations :math:`I_k \\sim \\mathcal{N}(0, \\sigma^2)` of every input value (k = 1..K) and f the class's
logit,

.. math:: \\text{INFD} = \\frac{1}{K} \\sum_k \\Big(\\beta\\, \\sum_{c,h,w} a_{hw} I_{k,chw} - \\big(f(x) - f(x - I_k)\\big)\\Big)^2

lower is better. With ``normalize`` (default) :math:`\\beta` is the least-squares scale
:math:`\\sum_k s_k \\delta_k / \\sum_k s_k^2` (:math:`s_k` the map's prediction, :math:`\\delta_k` the change), as in
captum's ``infidelity(normalize=True)`` and the authors' code: the maps of different methods have arbitrary
scales; without it :math:`\\beta = 1` (Quantus 0.6). The map's sign is kept. The draws do not depend on the map,
so every method of an image shares the K perturbed inputs and passes.

Quantus 0.6's default perturbation is different: black 4 x 4 patches laid one after the other over the image
(cumulatively). We follow the paper's Gaussian noise, which equals Quantus's ``Infidelity`` given our draws as its
perturbation and one patch the size of the image (``tests/test_metric_faithfulness.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from .baseline import class_outputs

NAME = "infidelity"


class InfidelityParams(BaseModel):
    """``[metrics.infidelity]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    samples: int = 10
    """Perturbations K (Quantus's and captum's default ``n_perturb_samples``)."""
    noise: float = 0.2
    """The perturbations' standard deviation, in the normalised input's units (about 0.05 of the pixel range for
    ImageNet's std): our choice, the paper states no single value for images."""
    normalize: bool = True
    """Scale the map by the least-squares beta first (captum's ``normalize``)."""

    def check(self) -> None:
        if self.samples < 1 or not self.noise > 0:
            raise ConfigError(f"metrics.{NAME}: samples >= 1 and noise > 0 are required")


def perturbations(shape: tuple[int, ...], samples: int, noise: float, seed: int) -> np.ndarray:
    """(samples, C, H, W) Gaussian draws of standard deviation ``noise``, from ``seed``."""
    return noise * np.random.default_rng(seed).standard_normal((samples, *shape))


def infidelity_value(predicted: np.ndarray, changes: np.ndarray, normalize: bool) -> float:
    """The mean squared error between the map's predictions and the score changes (module docstring)."""
    beta = 1.0
    if normalize:
        denominator = float((predicted ** 2).sum())
        beta = float((predicted * changes).sum()) / denominator if denominator > 0 else float("nan")
    return float(((beta * predicted - changes) ** 2).mean())


def infidelity(inputs: MetricInput, params: InfidelityParams, seed: int) -> dict[str, Score]:
    """Each method's infidelity (module docstring): ``samples + 1`` forward passes per image, shared."""
    x = inputs.x.detach()
    draws = perturbations(tuple(x.shape[1:]), params.samples, params.noise, seed)
    batch = torch.cat([x, x - torch.from_numpy(draws).to(x.device, x.dtype)])
    scores = class_outputs(inputs.model, batch, inputs.target, inputs.batch_size, softmax=False)
    changes = scores[0] - scores[1:]
    per_pixel = draws.sum(axis=1).reshape(params.samples, -1)  # sum over channels: the map counts once per channel
    found = {}
    for method, saliency in inputs.maps.items():
        predicted = per_pixel @ saliency.astype(np.float64).ravel()
        if not predicted.any():
            found[method] = Score.absent("the map predicts no change (a map of zeros)")
            continue
        found[method] = Score.of(infidelity_value(predicted, changes, params.normalize))
    return found


METRIC = Metric(
    name=NAME, title="Infidelity", family="faithfulness",
    citation="Yeh et al., On the (In)fidelity and Sensitivity of Explanations, NeurIPS 2019",
    higher_is_better=False, compute=infidelity, cost=lambda params: Passes(params.samples + 1),
    params=InfidelityParams)
