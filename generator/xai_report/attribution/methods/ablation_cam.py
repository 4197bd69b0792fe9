"""A faster, result-identical Ablation-CAM (Desai & Ramaswamy, WACV 2020) for ``grad-cam``.

:class:`FastAblationCAM` subclasses the library's ``AblationCAM`` (``pytorch_grad_cam`` 1.5.7) and overrides
only ``get_cam_weights``: the weighted sum of activations, ReLU, upsampling, min-max scaling and multi-layer
averaging stay the library's code, so the maps agree with the library's up to float rounding (tested to
1e-4 on the normalised maps). It runs the network up to the target layer once and only the layers after it
for each ablated channel (:mod:`.split`).
"""

from __future__ import annotations

import warnings
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from pytorch_grad_cam import AblationCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from torch import nn

from .cam_support import Target, activation_recording_paused
from ..split import SplitError, SplitModel, split_model

ABLATION_OFFSET = 1e7
"""What grad-cam's ``AblationLayer`` subtracts from the current minimum when a layer's minimum is not 0."""


def ablation_values(layer_min: torch.Tensor, count: int) -> torch.Tensor:
    """The value grad-cam's ``AblationLayer`` writes into the ablated channel at each batch position.

    The paper zeroes the channel. The library does so when the minimum of the (repeated) activations is 0;
    otherwise it writes ``min(current batch) - 1e7``, re-reading the minimum after every write, so position
    ``i`` of a batch gets ``m - (i+1)*1e7`` with float rounding after each subtraction (m = the sample's
    minimum). We reproduce that sequence in the activations' dtype so the ablated scores match.
    """
    if bool(layer_min == 0):
        return torch.zeros(count, dtype=layer_min.dtype)
    values = torch.empty(count, dtype=layer_min.dtype)
    current = layer_min.detach().cpu().clone()
    for i in range(count):
        current = current - ABLATION_OFFSET  # 0-d tensor minus Python float keeps the tensor's dtype
        values[i] = current
    return values


def ablated_batch(sample: torch.Tensor, channels: Sequence[int], values: torch.Tensor) -> torch.Tensor:
    """``len(channels)`` copies of ``sample`` (1xCxHxW); copy ``i`` has channel ``channels[i]`` set to ``values[i]``."""
    count = len(channels)
    batch = sample.repeat(count, *([1] * (sample.ndim - 1)))
    rows = torch.arange(count, device=sample.device)
    cols = torch.as_tensor(np.asarray(channels, dtype=np.int64), device=sample.device)
    fill = values[:count].to(device=sample.device, dtype=sample.dtype)
    batch[rows, cols] = fill.view(count, *([1] * (sample.ndim - 2))).expand(count, *sample.shape[2:])
    return batch


class FastAblationCAM(AblationCAM):
    """Ablation-CAM (Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional Network
    via Gradient-free Localization", WACV 2020), same maps as ``pytorch_grad_cam.AblationCAM``.

    For class score ``y`` and channel ``k`` of the target layer's activations ``A``, the weight is the
    relative drop of the score when channel ``k`` is ablated: ``w_k = (y - y_k) / y``; the map is
    ``ReLU(sum_k w_k A_k)`` (then the library's upsampling and min-max scaling).

    The library re-runs the whole network for every batch of ablated channels. Here the model is cut at the
    target layer (:func:`~xai_report.attribution.split.split_model`): the part before it runs once per
    image, and only the part after it runs on the ablated copies of the activations.

    Construct it exactly like the library's class; ``ratio_channels_to_ablate`` and ``batch_size`` keep
    the library's meaning (the batch size also decides the library's ablation value, see
    :func:`ablation_values`). The cut needs 4-D (conv) activations, no ``reshape_transform``, the default
    ``AblationLayer`` and a model ``torch.fx`` can split; otherwise the library's own computation runs
    (same maps, the library's speed) and a warning says why.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layers: list[nn.Module],
        reshape_transform: Optional[Callable] = None,
        ablation_layer: Optional[nn.Module] = None,
        batch_size: int = 32,
        ratio_channels_to_ablate: float = 1.0,
    ) -> None:
        super().__init__(
            model,
            target_layers,
            reshape_transform=reshape_transform,
            ablation_layer=ablation_layer or AblationLayer(),
            batch_size=batch_size,
            ratio_channels_to_ablate=ratio_channels_to_ablate,
        )
        self._splits: dict[int, SplitModel | str] = {}
        self._unsupported: Optional[str] = None
        if reshape_transform is not None:
            self._unsupported = "a reshape_transform (non-conv layer)"
        elif type(self.ablation_layer) is not AblationLayer:
            self._unsupported = f"the ablation layer {type(self.ablation_layer).__name__}"

    def split_for(self, layer: nn.Module) -> SplitModel | str:
        """The model cut at ``layer`` (traced once, then cached), or why it cannot be cut there."""
        key = id(layer)
        if key not in self._splits:
            try:
                self._splits[key] = self._unsupported or split_model(self.model, layer)
            except SplitError as exc:
                self._splits[key] = str(exc)
        return self._splits[key]

    def get_cam_weights(
        self,
        input_tensor: torch.Tensor,
        target_layer: nn.Module,
        targets: list[Target],
        activations: np.ndarray,
        grads: np.ndarray,
    ) -> np.ndarray:
        """Per-image, per-channel weights ``(y - y_k) / y`` (shape N x C), as the library computes them."""
        split = self.split_for(target_layer)
        if isinstance(split, str) or activations.ndim != 4:
            why = split if isinstance(split, str) else f"{activations.ndim}-D activations"
            warnings.warn(f"FastAblationCAM cannot cut the model here ({why}); running the library's AblationCAM")
            return super().get_cam_weights(input_tensor, target_layer, targets, activations, grads)
        with torch.inference_mode(), activation_recording_paused(self):
            layer_out, extras = split.run_head(input_tensor)
            outputs = split.run_tail(layer_out, extras)
            original = np.float32([target(out).cpu().item() for target, out in zip(targets, outputs)])
            ablated = [
                self._ablated_scores(split, layer_out, extras, index, target, activations[index], original[index])
                for index, target in enumerate(targets)
            ]
        scores = np.float32(ablated).reshape(activations.shape[:2])
        return (original[:, None] - scores) / original[:, None]

    def _ablated_scores(
        self,
        split: SplitModel,
        layer_out: torch.Tensor,
        extras: list[torch.Tensor],
        index: int,
        target: Target,
        sample_activations: np.ndarray,
        original_score: float,
    ) -> list[float]:
        """Scores of image ``index`` with each channel ablated (channels not ablated keep the original)."""
        sample = layer_out[index : index + 1]
        # The library's channel choice (all channels for ratio 1.0, an SVD heuristic below that).
        channels = self.ablation_layer.activations_to_be_ablated(sample_activations, self.ratio_channels_to_ablate)
        values = ablation_values(sample.min(), self.batch_size)
        scores: list[float] = []
        for start in range(0, len(channels), self.batch_size):
            chunk = channels[start : start + self.batch_size]
            outputs = split.tail_for_sample(ablated_batch(sample, chunk, values), extras, index)
            scores.extend(target(out).cpu().item() for out in outputs)
        return self.assemble_ablation_scores(scores, original_score, channels, sample.shape[1])
