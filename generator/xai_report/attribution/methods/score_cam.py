"""A faster, result-identical Score-CAM (Wang et al., CVPR Workshops 2020) for ``grad-cam``.

:class:`FastScoreCAM` subclasses the library's ``ScoreCAM`` (``pytorch_grad_cam`` 1.5.7) and overrides only
``get_cam_weights``: the weighted sum of activations, ReLU, upsampling, min-max scaling and multi-layer
averaging stay the library's code, so the maps agree with the library's up to float rounding (tested to
1e-4 on the normalised maps). It scores one forward pass per *distinct* mask, built batch by batch, on a
frozen TorchScript copy of the model on CPU (:mod:`.inference`).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from pytorch_grad_cam import ScoreCAM
from torch import nn

from .cam_support import Target, activation_recording_paused
from ..inference import BatchScorer, images_per_pass


def scorecam_masks(activations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Score-CAM masks as grad-cam computes them: bilinear upsampling (``align_corners=True``) of each
    channel to the input size, then per-channel min-max scaling ``(U - min U) / (max U - min U + 1e-8)``."""
    upsampled = nn.functional.interpolate(activations, size=size, mode="bilinear", align_corners=True)
    flat = upsampled.view(upsampled.size(0), upsampled.size(1), -1)
    maxs = flat.max(dim=-1)[0][:, :, None, None]
    mins = flat.min(dim=-1)[0][:, :, None, None]
    return (upsampled - mins) / (maxs - mins + 1e-8)


MASK_ATOL = 1e-6
"""Masks whose values differ by no more than this share one forward pass (masks lie in [0, 1]).

Channels whose activations differ only in scale have the same mask in exact arithmetic, but the library's
``(U - min U) / (max U - min U + 1e-8)`` rounds them differently in the last bits (the 1e-8 and the float32
division); such masks count as one. At 1e-6 the scores of the merged images differ by float rounding only,
and the maps stay within 1e-6 of the library's (measured; tests check 1e-4). At 96x96 this merges 5 % more of
ResNet50's ``layer4`` channels and 11 % more of EfficientNet-Lite0's ``bn2`` channels than exact equality.
"""


def distinct_masks(
    masks: torch.Tensor, low_res: torch.Tensor, atol: float = MASK_ATOL
) -> tuple[list[int], torch.Tensor]:
    """Group equal masks (C x H x W): (representative channels, channel -> representative slot).

    Candidates are found cheaply from the low-resolution activations (channels whose min-max scaled maps
    agree to 6 decimals, e.g. every all-zero channel), then confirmed on the full masks: a channel joins a
    representative only if no value of their masks differs by more than ``atol`` (0 = bitwise equal).
    """
    flat = low_res.reshape(low_res.shape[0], -1)
    lo, hi = flat.min(dim=1, keepdim=True)[0], flat.max(dim=1, keepdim=True)[0]
    keys = torch.where(hi > lo, (flat - lo) / (hi - lo), torch.zeros_like(flat))
    buckets: dict[bytes, list[int]] = {}
    representatives: list[int] = []
    slot_of = torch.empty(masks.shape[0], dtype=torch.long)
    keys_np = np.round(keys.cpu().numpy().astype(np.float64), 6) + 0.0  # + 0.0: -0.0 and 0.0 share a key

    def same(slot: int, channel: int) -> bool:
        return bool((masks[representatives[slot]] - masks[channel]).abs().max() <= atol)

    for channel in range(masks.shape[0]):
        bucket = buckets.setdefault(keys_np[channel].tobytes(), [])
        match = next((slot for slot in bucket if same(slot, channel)), None)
        if match is None:
            match = len(representatives)
            representatives.append(channel)
            bucket.append(match)
        slot_of[channel] = match
    return representatives, slot_of


class FastScoreCAM(ScoreCAM):
    """Score-CAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
    Networks", CVPR Workshops 2020), same maps as ``pytorch_grad_cam.ScoreCAM``.

    Each channel ``A_k`` of the target layer is upsampled to the input size and min-max scaled to a mask
    ``M_k`` in [0, 1]; the masked image ``X * M_k`` is scored, and the channel weights are the softmax of
    those scores over the channels: ``w = softmax_k(f_c(X * M_k))``; the map is ``ReLU(sum_k w_k A_k)``.

    Speed-ups, none of which change what is computed beyond float rounding: identical masks (all constant
    channels give the same all-zero mask; equal to :data:`MASK_ATOL`) are scored once; masked images are
    built about ``batch_size`` at a time instead of all at once (the library materialises C x 3 x H x W
    floats); the passes run through a :class:`~xai_report.attribution.inference.BatchScorer`: on CPU a frozen TorchScript copy of the model
    in cache-sized chunks (1.5-1.7x the library's eager batch-16 throughput for ResNet50 on 2 cores),
    elsewhere the eager model with channels-last input, always under ``torch.inference_mode``. Trained
    networks gain most from de-duplication: at EfficientNet-Lite0's ``bn2`` 30-70 % of the 1280 channels
    are all zero for a study image. Constructor: the library's, plus ``batch_size`` (the library reads an
    optional ``batch_size`` attribute, default 16), ``dedupe`` and ``freeze``.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layers: list[nn.Module],
        reshape_transform: Optional[Callable] = None,
        batch_size: int = 64,
        dedupe: bool = True,
        freeze: bool = True,
    ) -> None:
        super().__init__(model, target_layers, reshape_transform=reshape_transform)
        self.batch_size = batch_size
        self.dedupe = dedupe
        self.freeze = freeze
        self.passes = 0
        """Masked images scored in the last call (for benchmarks: C per image without de-duplication)."""

    def get_cam_weights(
        self,
        input_tensor: torch.Tensor,
        target_layer: nn.Module,
        targets: list[Target],
        activations: np.ndarray,
        grads: np.ndarray,
    ) -> np.ndarray:
        """Per-image, per-channel weights ``softmax_k(score of X * M_k)`` (shape N x C)."""
        self.passes = 0
        scorer = BatchScorer(self.model, freeze=self.freeze)  # looks the frozen copy up (or makes it) once
        with torch.inference_mode(), activation_recording_paused(self):
            low_res = torch.from_numpy(activations).to(self.device)
            masks = scorecam_masks(low_res, tuple(input_tensor.shape[-2:]))
            scores = torch.stack(
                [
                    self._channel_scores(scorer, input_tensor[index : index + 1], masks[index], low_res[index], target)
                    for index, target in enumerate(targets)
                ]
            )
            return torch.softmax(scores, dim=-1).numpy()

    def _channel_scores(
        self, scorer: BatchScorer, image: torch.Tensor, masks: torch.Tensor, low_res: torch.Tensor, target: Target
    ) -> torch.Tensor:
        """Target scores (float32, on the CPU) of ``image * masks[k]`` for every channel ``k``."""
        if self.dedupe:
            channels, slot_of = distinct_masks(masks, low_res)
        else:
            channels, slot_of = list(range(masks.shape[0])), torch.arange(masks.shape[0])
        scores: list[float] = []
        step = self.batch_size
        if image.device.type == "cpu":  # whole CPU passes per step (see images_per_pass)
            per_pass = images_per_pass(*image.shape[-2:])
            step = per_pass * max(1, round(self.batch_size / per_pass))
        for start in range(0, len(channels), step):
            chunk = channels[start : start + step]
            batch = image * masks[chunk, None]  # 1x3xHxW * kx1xHxW -> kx3xHxW, the library's product
            scores.extend(target(out).cpu().item() for out in scorer(batch))
            self.passes += len(chunk)
        # Python floats -> float32 tensor, as the library does (torch.Tensor(list_of_floats)).
        return torch.tensor(scores, dtype=torch.float32)[slot_of]
