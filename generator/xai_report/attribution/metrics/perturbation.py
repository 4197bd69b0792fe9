"""Removing pixels from an image and scoring the result: the plumbing of the faithfulness metrics.

"Removing" a pixel always means replacing it with the same pixel of a heavily blurred copy of the image
(:func:`blurred_copy`), never with black: a black fill is itself a strong, unnatural signal, so scattered
black pixels destroy the prediction about as fast as removing the object does (measured in this project with
EfficientNet-Lite0, 20 steps: deletion AUC 0.097 for a scattered random order vs 0.081 for Grad-CAM; with a
blurred fill 0.326 vs 0.183).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from ..inference import BatchScorer
from .maps import ArrayLike, resize_map

BATCH_SIZE = 32
"""Perturbed images composed at a time (memory: 32 x 3 x 224 x 224 floats = 19 MB); the forward passes
split them into cache-sized chunks on CPU (:class:`~xai_report.attribution.inference.BatchScorer`)."""
BLUR_SIGMA_DIVISOR = 8
"""The fill's Gaussian sigma is the image's shorter side divided by this (28 px at 224x224)."""


def check_input(input_tensor: torch.Tensor) -> torch.Tensor:
    if input_tensor.ndim != 4 or input_tensor.shape[0] != 1:
        raise ValueError(f"input_tensor must be 1x3xHxW, got shape {tuple(input_tensor.shape)}")
    return input_tensor.detach()


def class_probabilities(
    model: nn.Module, batch: torch.Tensor, target: int, batch_size: int | None = None
) -> np.ndarray:
    """Softmax probability of class ``target`` for every image of ``batch``.

    The passes run without autograd through a :class:`~xai_report.attribution.inference.BatchScorer` (on CPU
    the model's frozen copy, in cache-sized chunks, or ``batch_size`` images per pass when given). The model
    should be in eval mode: in train mode dropout and batch statistics make the scores depend on chance and
    on which images share a chunk.
    """
    scorer = BatchScorer(model, chunk=batch_size)
    logits = scorer(batch.to(scorer.device))
    return torch.softmax(logits.float(), dim=1)[:, target].cpu().numpy().astype(np.float64)


def default_blur_sigma(hw: tuple[int, int]) -> float:
    """The fill's blur: sigma = shorter side / 8 (28 px at 224x224).

    This is far heavier than RISE's 11x11 kernel on purpose: at 1/8 of the side the object's shape and texture
    are gone while the colours and the coarse layout of the scene stay, so a removed region looks like
    "something out of focus" rather than like a hole. Heavier still (1/4) approaches a flat mean colour and
    separates real maps from chance less well: on the ten study images (EfficientNet-Lite0, Grad-CAM for the
    predicted class, 20 steps, 5 smooth random maps) Grad-CAM's deletion AUC beat chance on 10/10 images at
    side/8 and on 8/10 at side/4.
    """
    return min(hw) / BLUR_SIGMA_DIVISOR


def blurred_copy(input_tensor: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """A Gaussian-blurred copy of a ``1xCxHxW`` tensor (reflected borders), on the input's device and dtype.

    Blurring is linear and per channel, so blurring the *normalised* tensor equals normalising the blurred
    image: no need to go back to pixels.
    """
    x = check_input(input_tensor)
    sigma = default_blur_sigma(tuple(x.shape[-2:])) if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma}")
    arr = x[0].cpu().numpy().astype(np.float64)
    blurred = ndimage.gaussian_filter(arr, sigma=(0.0, sigma, sigma), mode="reflect")
    return torch.from_numpy(blurred).to(dtype=x.dtype, device=x.device)[None]


def map_for_input(saliency: ArrayLike, input_tensor: torch.Tensor) -> np.ndarray:
    """The saliency map at the input's resolution (CAMs and LIME maps usually already are)."""
    return resize_map(saliency, tuple(input_tensor.shape[-2:]))


def _mix(original: torch.Tensor, fill: torch.Tensor, use_fill: np.ndarray) -> torch.Tensor:
    """A batch: image i takes ``fill`` where ``use_fill[i]`` (NxHxW bool) is True, ``original`` elsewhere."""
    mask = torch.from_numpy(use_fill)[:, None].to(original.device)
    return torch.where(mask, fill, original)


def probabilities_of_masks(
    model: nn.Module,
    original: torch.Tensor,
    fill: torch.Tensor,
    masks: np.ndarray,
    target: int,
    batch_size: int | None,
) -> np.ndarray:
    """Class probabilities for ``original`` with the pixels of each mask (NxHxW) taken from ``fill``.

    Images are composed chunk by chunk so memory stays at one chunk, whatever the number of masks.
    """
    probs = []
    for start in range(0, masks.shape[0], BATCH_SIZE):
        batch = _mix(original, fill, masks[start : start + BATCH_SIZE])
        probs.append(class_probabilities(model, batch, target, batch_size))
    return np.concatenate(probs) if probs else np.zeros(0)
