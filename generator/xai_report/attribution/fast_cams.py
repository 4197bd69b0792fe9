"""Faster, result-identical versions of ``grad-cam``'s gradient-free CAMs, and a batched LIME classifier.

Both CAM classes subclass the library's own (``pytorch_grad_cam`` 1.5.7) and override only
``get_cam_weights``: the weighted sum of activations, ReLU, upsampling, min-max scaling and multi-layer
averaging stay the library's code, so the maps agree with the library's up to float rounding (tested to
1e-4 on the normalised maps). Constructors take the library's arguments (plus a few speed knobs).

* :class:`FastAblationCAM` - Ablation-CAM (Desai & Ramaswamy, WACV 2020): runs the network up to the
  target layer once and only the layers after it for each ablated channel.
* :class:`FastScoreCAM` - Score-CAM (Wang et al., CVPR-W 2020): one forward pass per *distinct* mask,
  built batch by batch in channels-last layout under ``torch.inference_mode``.
* :func:`make_classifier_fn` - a LIME ``classifier_fn`` that normalises and classifies whole batches.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Protocol, Sequence

import numpy as np
import torch
from pytorch_grad_cam import AblationCAM, ScoreCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from torch import nn

from .split import SplitError, SplitModel, fold_batchnorm, split_model

ABLATION_OFFSET = 1e7
"""What grad-cam's ``AblationLayer`` subtracts from the current minimum when a layer's minimum is not 0."""

Target = Callable[[torch.Tensor], torch.Tensor]


class _DiscardList(list):
    """A list that ignores ``append``: stands in for grad-cam's activation record while we run passes."""

    def append(self, item: object) -> None:
        pass


@contextmanager
def activation_recording_paused(cam: AblationCAM | ScoreCAM) -> Iterator[None]:
    """Stop grad-cam's forward hooks from keeping every perturbed batch's activations alive.

    The library's hooks on the target layers append each forward pass's output to a list that lives until
    the next call; over thousands of perturbed passes that is gigabytes, and none of it is used.
    """
    recorder = cam.activations_and_grads
    saved = recorder.activations
    recorder.activations = _DiscardList()
    try:
        yield
    finally:
        recorder.activations = saved


# ---------------------------------------------------------------------------------------------
# Ablation-CAM


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

    Construct it exactly like the library's class. Supported: 4-D (conv) activations, no
    ``reshape_transform``, the default ``AblationLayer``; ``ratio_channels_to_ablate`` and ``batch_size``
    keep the library's meaning (the batch size also decides the library's ablation value, see
    :func:`ablation_values`). Models must be traceable by ``torch.fx`` (``SplitError`` otherwise).
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
        self._splits: dict[int, SplitModel] = {}
        problem = None
        if reshape_transform is not None:
            problem = "FastAblationCAM supports conv layers only (no reshape_transform); use AblationCAM"
        elif type(self.ablation_layer) is not AblationLayer:
            problem = f"FastAblationCAM reproduces the default AblationLayer only, not {type(ablation_layer).__name__}"
        if problem:
            self.activations_and_grads.release()  # the base class has hooked the layers already
            raise NotImplementedError(problem)

    def split_for(self, layer: nn.Module) -> SplitModel:
        """The model cut at ``layer`` (traced once, then cached)."""
        key = id(layer)
        if key not in self._splits:
            self._splits[key] = split_model(self.model, layer)
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
        with torch.inference_mode(), activation_recording_paused(self):
            layer_out, extras = split.run_head(input_tensor)
            if layer_out.ndim != 4:
                raise NotImplementedError(f"FastAblationCAM needs 4-D activations, got shape {tuple(layer_out.shape)}")
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


# ---------------------------------------------------------------------------------------------
# Score-CAM


def scorecam_masks(activations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Score-CAM masks as grad-cam computes them: bilinear upsampling (``align_corners=True``) of each
    channel to the input size, then per-channel min-max scaling ``(U - min U) / (max U - min U + 1e-8)``."""
    upsampled = nn.functional.interpolate(activations, size=size, mode="bilinear", align_corners=True)
    flat = upsampled.view(upsampled.size(0), upsampled.size(1), -1)
    maxs = flat.max(dim=-1)[0][:, :, None, None]
    mins = flat.min(dim=-1)[0][:, :, None, None]
    return (upsampled - mins) / (maxs - mins + 1e-8)


def distinct_masks(masks: torch.Tensor, low_res: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """Group bitwise-identical masks (C x H x W): (representative channels, channel -> representative slot).

    Candidates are found cheaply from the low-resolution activations (channels with equal min-max scaled
    maps, e.g. every all-zero channel), then confirmed on the full masks, so only exact duplicates merge.
    """
    flat = low_res.reshape(low_res.shape[0], -1)
    lo, hi = flat.min(dim=1, keepdim=True)[0], flat.max(dim=1, keepdim=True)[0]
    keys = torch.where(hi > lo, (flat - lo) / (hi - lo), torch.zeros_like(flat))
    buckets: dict[bytes, list[int]] = {}
    representatives: list[int] = []
    slot_of = torch.empty(masks.shape[0], dtype=torch.long)
    keys_np = keys.cpu().numpy()
    for channel in range(masks.shape[0]):
        bucket = buckets.setdefault(keys_np[channel].tobytes(), [])
        match = next((slot for slot in bucket if torch.equal(masks[representatives[slot]], masks[channel])), None)
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

    Speed-ups, none of which change what is computed: identical masks (all constant channels give the same
    all-zero mask) are scored once; masked images are built per batch instead of all at once (the library
    materialises C x 3 x H x W floats); inputs go channels-last, which oneDNN convolutions run faster on CPU;
    the scoring passes use a copy of the model with batch-norm folded into the convolutions
    (:func:`~xai_report.attribution.split.fold_batchnorm`, re-made on each call so it never goes stale;
    scores change by float rounding only); ``torch.inference_mode``. Constructor: the library's, plus
    ``batch_size`` (the library reads an optional ``batch_size`` attribute, default 16), ``channels_last``,
    ``dedupe`` and ``fold_bn``; turning the last three off gives the library's passes, only batched.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layers: list[nn.Module],
        reshape_transform: Optional[Callable] = None,
        batch_size: int = 32,
        channels_last: bool = True,
        dedupe: bool = True,
        fold_bn: bool = True,
    ) -> None:
        super().__init__(model, target_layers, reshape_transform=reshape_transform)
        self.batch_size = batch_size
        self.channels_last = channels_last
        self.dedupe = dedupe
        self.fold_bn = fold_bn
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
        scorer = self._scoring_model()
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

    def _scoring_model(self) -> nn.Module:
        """The model that scores masked images: batch-norm folded when possible, else the model itself."""
        if not self.fold_bn:
            return self.model
        try:
            return fold_batchnorm(self.model)
        except SplitError:  # untraceable model: folding is only a speed-up, score with the model as it is
            return self.model

    def _channel_scores(
        self, scorer: nn.Module, image: torch.Tensor, masks: torch.Tensor, low_res: torch.Tensor, target: Target
    ) -> torch.Tensor:
        """Target scores (float32, on the CPU) of ``image * masks[k]`` for every channel ``k``."""
        if self.dedupe:
            channels, slot_of = distinct_masks(masks, low_res)
        else:
            channels, slot_of = list(range(masks.shape[0])), torch.arange(masks.shape[0])
        scores: list[float] = []
        for start in range(0, len(channels), self.batch_size):
            chunk = channels[start : start + self.batch_size]
            batch = image * masks[chunk, None]  # 1x3xHxW * kx1xHxW -> kx3xHxW, the library's product
            if self.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            scores.extend(target(out).cpu().item() for out in scorer(batch))
            self.passes += len(chunk)
        # Python floats -> float32 tensor, as the library does (torch.Tensor(list_of_floats)).
        return torch.tensor(scores, dtype=torch.float32)[slot_of]


# ---------------------------------------------------------------------------------------------
# LIME


class Normalisation(Protocol):
    """Anything with per-channel ``mean`` and ``std`` (e.g. :class:`xai_report.models.Preprocess`)."""

    mean: Sequence[float]
    std: Sequence[float]


def make_classifier_fn(
    model: nn.Module,
    preprocess: Normalisation,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    channels_last: bool = True,
    fold_bn: bool = True,
) -> Callable[[np.ndarray], np.ndarray]:
    """A ``classifier_fn`` for ``lime_image.LimeImageExplainer.explain_instance`` (Ribeiro et al., "Why
    Should I Trust You?", KDD 2016): N x H x W x 3 pixels in [0, 1] (uint8 is scaled by 1/255) ->
    N x classes softmax probabilities, ``softmax(model((x - mean) / std))``.

    The whole batch LIME hands over is normalised with one broadcast op and classified ``batch_size`` images
    at a time under ``torch.inference_mode``; an N x H x W x 3 array seen through ``permute(0, 3, 1, 2)`` is
    already channels-last, so no transpose copy is made. With ``fold_bn`` it classifies with a batch-norm
    folded copy of the model made now (:func:`~xai_report.attribution.split.fold_batchnorm`; probabilities
    change by float rounding only; later changes to the model's weights are not seen). Pair it with a large
    LIME ``batch_size`` (e.g. 100).

    ``preprocess`` supplies ``mean`` and ``std`` (a :class:`xai_report.models.Preprocess`); resizing and
    cropping must already have happened (LIME perturbs the cropped image the model sees).
    """
    device = torch.device(device)
    net = model
    if fold_bn and not model.training:
        try:
            net = fold_batchnorm(model)
        except SplitError:  # untraceable: folding is only a speed-up
            net = model
    mean_t = torch.tensor(list(preprocess.mean), dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(list(preprocess.std), dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def classify(images: np.ndarray) -> np.ndarray:
        pixels = np.asarray(images)
        scale = 1.0 / 255.0 if pixels.dtype == np.uint8 else 1.0
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).to(device)
            if scale != 1.0:
                x = x * scale
            x = (x.permute(0, 3, 1, 2) - mean_t) / std_t
            if not channels_last:
                x = x.contiguous()
            probs = [torch.softmax(net(x[i : i + batch_size]), dim=1) for i in range(0, x.shape[0], batch_size)]
            return torch.cat(probs).float().cpu().numpy()

    return classify
