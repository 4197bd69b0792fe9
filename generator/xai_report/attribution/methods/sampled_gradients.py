"""Gradients averaged over many sampled points, in batches of ``attribution.batch_size``: what SmoothGrad,
GradientSHAP and Expected Gradients share.

captum computes these through ``NoiseTunnel``, whose batching (``nt_samples_batch_size``) draws its noise, baseline
choices and interpolation coefficients batch by batch, so the batch size changes the samples (and GradientShap
exposes no batch size at all: captum #1350). Here every random number is drawn first, in the order of captum's own
unbatched call (:func:`draws`), then the points run ``batch_size`` at a time: the batch size changes no sample, and
with ``batch_size >= n`` the numbers are captum's for ``np.random.seed(seed)`` and ``torch.manual_seed(seed)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn


class Draws(NamedTuple):
    """The random part of ``n`` samples."""

    baseline_index: np.ndarray
    """Which baseline each sample starts from (``numpy.random.RandomState(seed).choice``, as captum draws them)."""
    alpha: np.ndarray
    """Each sample's point on its path, uniform in [0, 1) (drawn next, as captum's ``InputBaselineXGradient``)."""
    noise: torch.Tensor
    """n x C x H x W Gaussian noise of standard deviation ``stdev`` (``torch.Generator().manual_seed(seed)``)."""


def draws(seed: int, n: int, baselines: int, shape: tuple[int, ...], stdev: float) -> Draws:
    """The random numbers of ``n`` samples over ``baselines`` baselines, for inputs of ``shape`` (C x H x W)."""
    numbers = np.random.RandomState(seed)
    index = numbers.choice(baselines, n * 1)
    alpha = numbers.uniform(0.0, 1.0, n)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.normal(0.0, torch.full((n,) + tuple(shape), float(stdev)), generator=generator)
    return Draws(index, alpha, noise)


def mean_gradient(model: nn.Module, target: int, points: torch.Tensor, weights: torch.Tensor | None,
                  batch_size: int) -> torch.Tensor:
    """``(1/n) Σ_i w_i ⊙ ∂f_target(p_i)/∂p_i`` over the ``n`` points (n x C x H x W; ``weights`` alike, or None for
    1), ``batch_size`` points per forward and backward pass; a 1 x C x H x W tensor."""
    total = torch.zeros_like(points[:1])
    for start in range(0, len(points), batch_size):
        batch = points[start : start + batch_size].detach().clone().requires_grad_(True)
        (grads,) = torch.autograd.grad(model(batch)[:, target].sum(), batch)
        if weights is not None:
            grads = grads * weights[start : start + batch_size]
        total += grads.sum(dim=0, keepdim=True)
    return total / len(points)


def shap_points(x: torch.Tensor, baselines: torch.Tensor, drawn: Draws) -> tuple[torch.Tensor, torch.Tensor]:
    """GradientSHAP's samples: the noisy input ``x_i = x + ε_i``, its baseline ``b_i``, the point
    ``p_i = α_i x_i + (1 - α_i) b_i`` and the weight ``x_i - b_i``; returns (points, weights)."""
    noisy = x + drawn.noise.to(x.device, x.dtype)
    chosen = baselines[torch.as_tensor(drawn.baseline_index, device=x.device)]
    alpha = torch.as_tensor(drawn.alpha, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
    return alpha * noisy + (1.0 - alpha) * chosen, noisy - chosen
