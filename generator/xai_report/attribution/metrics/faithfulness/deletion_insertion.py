"""Faithfulness: does a saliency map point at what the model uses?

* :func:`deletion_insertion` -- the deletion and insertion curves of Petsiuk, Das & Saenko, "RISE: Randomized
  Input Sampling for Explanation of Black-box Models", BMVC 2018, and the areas under them.
* :func:`random_baseline` -- the same AUCs for smooth random maps, so each AUC can be read against chance.
* :func:`salient_drop` -- the class probability after removing the 20 % most vs the 20 % least salient pixels.

Removed pixels take a blurred copy's values (:mod:`.perturbation`); pixel order follows :mod:`.maps`.
Signed maps (Integrated Gradients, DeepLIFT, ...) are ranked by their signed value, not by |value|: the pixels of
most evidence *for* the class go first, those of evidence against it last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..maps import ArrayLike, saliency_ranks
from ..perturbation import (blurred_copy, check_input, class_probabilities, default_blur_sigma, map_for_input,
                            probabilities_of_masks)

DEFAULT_STEPS = 20


def curve_auc(fractions: Sequence[float], values: Sequence[float]) -> float:
    """Area under a curve by the trapezoid rule; with fractions spanning [0, 1] it is the curve's mean level."""
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError("curve_auc needs two 1-D sequences of equal length >= 2")
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def step_pixel_counts(n_pixels: int, steps: int) -> np.ndarray:
    """Pixels removed after step k = 0..steps: ``round(k / steps * n_pixels)``, exactly 0 and ``n_pixels``."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    k = np.arange(steps + 1, dtype=np.int64)
    return (2 * k * n_pixels + steps) // (2 * steps)  # integer round-half-up: no float error at the ends


@dataclass(frozen=True)
class FaithfulnessResult:
    """Deletion and insertion curves of one saliency map for one image and class (Petsiuk et al., 2018)."""

    fractions: tuple[float, ...]
    """Fraction of pixels removed (deletion) or revealed (insertion) at each point: 0, 1/steps, ..., 1."""
    deletion_curve: tuple[float, ...]
    """Class probability as the most salient pixels are replaced by the blurred copy; starts at the original."""
    insertion_curve: tuple[float, ...]
    """Class probability as the most salient pixels are revealed on the blurred copy; ends at the original."""
    deletion_auc: float
    """Area under the deletion curve (lower = more faithful)."""
    insertion_auc: float
    """Area under the insertion curve (higher = more faithful)."""
    original_prob: float
    """Class probability of the unmodified image."""
    blurred_prob: float
    """Class probability of the fully blurred image (deletion's end, insertion's start)."""
    blur_sigma: float
    """Gaussian sigma of the fill, in pixels of the model's input."""


def _curves_from_ranks(
    model: nn.Module,
    x: torch.Tensor,
    fill: torch.Tensor,
    ranks: np.ndarray,
    target: int,
    steps: int,
    batch_size: int | None,
    end_probs: tuple[float, float],
    sigma: float,
) -> FaithfulnessResult:
    """Deletion and insertion for one pixel ranking, given the original and fully blurred probabilities.

    Only the intermediate steps need forward passes: step 0 of deletion and the last step of insertion are the
    original image, the other two ends are the blurred copy. Reusing ``end_probs`` makes the curves meet them
    exactly and saves forward passes when several maps are scored on one image.
    """
    counts = step_pixel_counts(ranks.size, steps)
    inner = counts[1:-1]
    # Pixel p is among the first n of the order exactly when its rank is below n.
    removed = ranks[None] < inner[:, None, None]
    deletion_masks = removed  # removed pixels take the fill
    insertion_masks = ~removed  # revealed pixels are original, the rest is fill
    probs = probabilities_of_masks(
        model, x, fill, np.concatenate([deletion_masks, insertion_masks]), target, batch_size
    )
    p_original, p_blurred = end_probs
    deletion = np.concatenate([[p_original], probs[: len(inner)], [p_blurred]])
    insertion = np.concatenate([[p_blurred], probs[len(inner) :], [p_original]])
    fractions = np.arange(steps + 1, dtype=np.float64) / steps
    return FaithfulnessResult(
        fractions=tuple(float(f) for f in fractions),
        deletion_curve=tuple(float(p) for p in deletion),
        insertion_curve=tuple(float(p) for p in insertion),
        deletion_auc=curve_auc(fractions, deletion),
        insertion_auc=curve_auc(fractions, insertion),
        original_prob=float(p_original),
        blurred_prob=float(p_blurred),
        blur_sigma=sigma,
    )


def _original_and_blurred(
    model: nn.Module, input_tensor: torch.Tensor, target: int, blur_sigma: float | None
) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float], float]:
    """The input, its blurred copy, the class probability of each, and the sigma used."""
    x = check_input(input_tensor)
    sigma = default_blur_sigma(tuple(x.shape[-2:])) if blur_sigma is None else float(blur_sigma)
    fill = blurred_copy(x, sigma)
    p_original, p_blurred = class_probabilities(model, torch.cat([x, fill]), target)
    return x, fill, (float(p_original), float(p_blurred)), sigma


def deletion_insertion(
    model: nn.Module,
    input_tensor: torch.Tensor,
    saliency: ArrayLike,
    target: int,
    steps: int = DEFAULT_STEPS,
    batch_size: int | None = None,
    blur_sigma: float | None = None,
) -> FaithfulnessResult:
    """Deletion and insertion curves and AUCs of a saliency map (Petsiuk, Das & Saenko, RISE, BMVC 2018).

    Pixels are sorted by decreasing saliency (ties in raster order). At step k = 0..steps the first
    ``n_k = round(k/steps * H*W)`` of them are

    * deleted: replaced by the same pixels of a heavily blurred copy of the image (:func:`blurred_copy`,
      sigma = shorter side / 8 unless ``blur_sigma`` is given), or
    * inserted: copied from the image onto the blurred copy,

    and the model's softmax probability of class ``target`` is recorded. The AUC is the trapezoid area over
    the fraction k/steps in [0, 1], i.e. the curve's average level. A faithful map has a low deletion AUC (the
    probability collapses as soon as the salient pixels go) and a high insertion AUC. Compare both to
    :func:`random_baseline` on the same image: the absolute values depend on the image and class.

    ``input_tensor`` is the normalised ``1x3xHxW`` model input; a map of another size than ``HxW`` is resized
    bilinearly. The perturbed images go through :func:`class_probabilities` (``batch_size`` images per pass
    when given, else a size chosen for the device).
    """
    x, fill, end_probs, sigma = _original_and_blurred(model, input_tensor, target, blur_sigma)
    ranks = saliency_ranks(map_for_input(saliency, x))
    return _curves_from_ranks(model, x, fill, ranks, target, steps, batch_size, end_probs, sigma)


# ---------------------------------------------------------------------------------------------
# chance level


def smooth_random_map(low_res_hw: tuple[int, int], out_hw: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth random map: uniform noise at ``low_res_hw`` (e.g. a CAM's 7x7), bilinearly upsampled to ``out_hw``.

    Smooth noise at the explanation's own resolution is the fair chance level for a CAM: it removes pixels in
    blobs as a CAM does, whereas a per-pixel random order scatters single pixels, which the blurred fill barely
    changes (so per-pixel noise would flatter every real map).
    """
    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.random(tuple(low_res_hw)))[None, None]
    up = F.interpolate(low, size=tuple(out_hw), mode="bilinear", align_corners=False)
    return up[0, 0].numpy()


@dataclass(frozen=True)
class RandomBaseline:
    """Deletion and insertion AUCs of smooth random maps (:func:`smooth_random_map`) on one image and class."""

    deletion_auc: float
    """Mean over the seeds."""
    insertion_auc: float
    """Mean over the seeds."""
    deletion_auc_std: float
    """Standard deviation over the seeds (population, ddof=0)."""
    insertion_auc_std: float
    deletion_aucs: tuple[float, ...]
    """One per seed, in the order of ``seeds``."""
    insertion_aucs: tuple[float, ...]
    seeds: tuple[int, ...]
    low_res_hw: tuple[int, int]


def random_baseline(
    model: nn.Module,
    input_tensor: torch.Tensor,
    target: int,
    low_res_hw: tuple[int, int] = (7, 7),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    steps: int = DEFAULT_STEPS,
    batch_size: int | None = None,
    blur_sigma: float | None = None,
) -> RandomBaseline:
    """Chance level for :func:`deletion_insertion`: its AUCs for smooth random maps, averaged over ``seeds``.

    Use the same ``steps`` and ``blur_sigma`` as for the map being judged. A map is better than chance on an
    image when its deletion AUC is below ``deletion_auc`` and its insertion AUC above ``insertion_auc``.
    """
    if len(seeds) == 0:
        raise ValueError("random_baseline needs at least one seed")
    x, fill, end_probs, sigma = _original_and_blurred(model, input_tensor, target, blur_sigma)
    hw = tuple(x.shape[-2:])
    runs = [
        _curves_from_ranks(
            model, x, fill, saliency_ranks(smooth_random_map(low_res_hw, hw, s)), target, steps, batch_size,
            end_probs, sigma,
        )
        for s in seeds
    ]
    deletion = np.array([r.deletion_auc for r in runs])
    insertion = np.array([r.insertion_auc for r in runs])
    return RandomBaseline(
        deletion_auc=float(deletion.mean()),
        insertion_auc=float(insertion.mean()),
        deletion_auc_std=float(deletion.std()),
        insertion_auc_std=float(insertion.std()),
        deletion_aucs=tuple(float(a) for a in deletion),
        insertion_aucs=tuple(float(a) for a in insertion),
        seeds=tuple(int(s) for s in seeds),
        low_res_hw=(int(low_res_hw[0]), int(low_res_hw[1])),
    )


# ---------------------------------------------------------------------------------------------
# most vs least salient


class SalientDrop(NamedTuple):
    """Class probabilities after removing a fraction of the most / least salient pixels (blurred fill)."""

    most_deleted: float
    """Probability with the most salient ``fraction`` of pixels replaced by the blurred copy."""
    least_deleted: float
    """Probability with the least salient ``fraction`` of pixels replaced by the blurred copy."""
    original: float
    """Probability of the unmodified image."""


def salient_drop(
    model: nn.Module,
    input_tensor: torch.Tensor,
    saliency: ArrayLike,
    target: int,
    fraction: float = 0.2,
    blur_sigma: float | None = None,
) -> SalientDrop:
    """Replace the ``fraction`` most salient pixels, then the ``fraction`` least salient, with the blurred copy.

    A faithful map lowers the probability more in the first case (``most_deleted < least_deleted``): a
    one-point version of the deletion test (Petsiuk et al., 2018) contrasted with its mirror image, in the
    spirit of the MoRF/LeRF pair of Samek et al., "Evaluating the Visualization of What a Deep Neural Network
    Has Learned", IEEE TNNLS 2017. Same ordering and fill as :func:`deletion_insertion`; the number of pixels
    is ``round(fraction * H*W)``.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    x = check_input(input_tensor)
    fill = blurred_copy(x, blur_sigma)
    ranks = saliency_ranks(map_for_input(saliency, x))
    n = int(round(fraction * ranks.size))
    masks = np.stack([ranks < n, ranks >= ranks.size - n])
    most, least = probabilities_of_masks(model, x, fill, masks, target, None)
    (original,) = class_probabilities(model, x, target)
    return SalientDrop(most_deleted=float(most), least_deleted=float(least), original=float(original))

