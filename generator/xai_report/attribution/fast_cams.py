"""Faster, result-identical versions of ``grad-cam``'s gradient-free CAMs, and a batched LIME classifier.

Both CAM classes subclass the library's own (``pytorch_grad_cam`` 1.5.7) and override only
``get_cam_weights``: the weighted sum of activations, ReLU, upsampling, min-max scaling and multi-layer
averaging stay the library's code, so the maps agree with the library's up to float rounding (tested to
1e-4 on the normalised maps). Constructors take the library's arguments (plus a few speed knobs).

* :class:`FastAblationCAM` - Ablation-CAM (Desai & Ramaswamy, WACV 2020): runs the network up to the
  target layer once and only the layers after it for each ablated channel.
* :class:`FastScoreCAM` - Score-CAM (Wang et al., CVPR-W 2020): one forward pass per *distinct* mask,
  built batch by batch, on a frozen TorchScript copy of the model on CPU.
* :func:`make_classifier_fn` - a LIME ``classifier_fn`` that normalises and classifies whole batches.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Protocol, Sequence

import numpy as np
import torch
from pytorch_grad_cam import AblationCAM, ScoreCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from torch import nn

from .split import SplitModel, split_model

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
# CPU inference copy

FROZEN_CHECK_TOL = 1e-4
"""Largest relative difference (to the largest logit) a frozen copy may show before we fall back to eager."""


def frozen_for_cpu(model: nn.Module, example: torch.Tensor) -> Optional[torch.jit.ScriptModule]:
    """A TorchScript copy of ``model`` traced on ``example`` and frozen for CPU inference, or None.

    ``torch.jit.freeze`` + ``optimize_for_inference`` fold batch-norm into the convolutions, fuse
    conv + ReLU / add in oneDNN and pre-pack the weights: 1.7-1.9x the throughput of eager NCHW for
    ResNet50 on 2 idle cores (outputs differ by float rounding, ~1e-7 relative). The copy is a snapshot of
    the weights. Tracing records the one path ``forward`` took on ``example``: if the tracer warns that the
    path depended on tensor values (a Python ``if`` on a tensor, ``.item()``), no copy is made. Returns
    None then, and when tracing or freezing fails (these APIs are deprecated in favour of ``torch.compile``
    and may go); callers fall back to the eager model.
    """
    if example.device.type != "cpu":
        return None
    try:
        with warnings.catch_warnings(record=True) as caught, torch.no_grad():
            warnings.simplefilter("always")
            traced = torch.jit.trace(model, example, check_trace=False)
            if any(issubclass(w.category, torch.jit.TracerWarning) for w in caught):
                return None  # the trace may not hold for other inputs
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    except Exception:  # tracing fails in many ways (unsupported ops, non-tensor outputs, ...)
        return None


def frozen_agrees(frozen_out: torch.Tensor, eager_out: torch.Tensor) -> bool:
    """Whether a frozen copy's output matches the eager model's up to float rounding."""
    if not isinstance(frozen_out, torch.Tensor) or frozen_out.shape != eager_out.shape:
        return False
    scale = float(eager_out.abs().max()) + 1.0
    return float((frozen_out - eager_out).abs().max()) <= FROZEN_CHECK_TOL * scale


class _Scorer:
    """Runs the model on batches for a gradient-free method: frozen on CPU when that is safe, else eager.

    The first batch goes through both the frozen copy and the eager model; if they disagree beyond float
    rounding (a broken freeze), every batch uses the eager model.
    """

    def __init__(self, model: nn.Module, freeze: bool, channels_last: bool) -> None:
        self.model = model
        self.freeze = freeze
        self.channels_last = channels_last
        self.frozen: Optional[torch.jit.ScriptModule] = None
        self.checked = False

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if not self.checked:
            self.checked = True
            # Trace and check on two samples: both cost a forward pass each, and the eager one is wasted.
            # The frozen copy wants NCHW: its oneDNN convolutions would reorder channels-last input.
            probe = batch[:2].contiguous()
            self.frozen = frozen_for_cpu(self.model, probe) if self.freeze else None
            if self.frozen is not None and not frozen_agrees(self.frozen(probe), self._eager(probe)):
                warnings.warn("the frozen CPU copy of the model disagrees with it; using the eager model")
                self.frozen = None
        if self.frozen is not None:
            return self.frozen(batch.contiguous())
        return self._eager(batch)

    def _eager(self, batch: torch.Tensor) -> torch.Tensor:
        if self.channels_last and batch.ndim == 4:
            # oneDNN runs channels-last convolutions faster than NCHW ones (no reorders per layer).
            batch = batch.contiguous(memory_format=torch.channels_last)
        return self.model(batch)


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

    Speed-ups, none of which change what is computed beyond float rounding: identical masks (all constant
    channels give the same all-zero mask) are scored once; masked images are built per batch instead of
    all at once (the library materialises C x 3 x H x W floats); on CPU the passes run on a frozen
    TorchScript copy of the model (:func:`frozen_for_cpu`, checked against the eager model on the first
    batch; about 1.9x the library's NCHW batch-16 throughput for ResNet50 on 2 idle cores at 112x112),
    otherwise on the eager model with channels-last input (about 1.4x); ``torch.inference_mode``.
    Trained networks gain most from de-duplication: at EfficientNet-Lite0's ``bn2`` 30-70 % of the 1280
    channels are all zero for a study image. Constructor: the library's, plus ``batch_size`` (the library
    reads an optional ``batch_size`` attribute, default 16), ``channels_last``, ``dedupe`` and ``freeze``.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layers: list[nn.Module],
        reshape_transform: Optional[Callable] = None,
        batch_size: int = 32,
        channels_last: bool = True,
        dedupe: bool = True,
        freeze: bool = True,
    ) -> None:
        super().__init__(model, target_layers, reshape_transform=reshape_transform)
        self.batch_size = batch_size
        self.channels_last = channels_last
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
        scorer = _Scorer(self.model, self.freeze, self.channels_last)  # re-made per call: never stale weights
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
        self, scorer: _Scorer, image: torch.Tensor, masks: torch.Tensor, low_res: torch.Tensor, target: Target
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
    batch_size: int = 32,
    channels_last: bool = True,
    freeze: bool = True,
) -> Callable[[np.ndarray], np.ndarray]:
    """A ``classifier_fn`` for ``lime_image.LimeImageExplainer.explain_instance`` (Ribeiro et al., "Why
    Should I Trust You?", KDD 2016): N x H x W x 3 pixels in [0, 1] (uint8 is scaled by 1/255) ->
    N x classes softmax probabilities, ``softmax(model((x - mean) / std))``.

    The whole batch LIME hands over is normalised with one broadcast op and classified ``batch_size`` images
    at a time under ``torch.inference_mode``; an N x H x W x 3 array seen through ``permute(0, 3, 1, 2)`` is
    already channels-last, so no transpose copy is made. LIME's own ``batch_size`` (how many images it
    hands over at once) can be large (e.g. 100); ``batch_size`` here is what the model sees: on CPU small
    batches (8-32 images at 224x224) keep activations in cache and run fastest. With ``freeze`` (CPU only)
    the model runs as a frozen TorchScript copy made on the first call (:func:`frozen_for_cpu`, checked
    against the eager model on that call; a snapshot: later weight changes are not seen).

    ``preprocess`` supplies ``mean`` and ``std`` (a :class:`xai_report.models.Preprocess`); resizing and
    cropping must already have happened (LIME perturbs the cropped image the model sees).
    """
    device = torch.device(device)
    mean_t = torch.tensor(list(preprocess.mean), dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(list(preprocess.std), dtype=torch.float32, device=device).view(1, 3, 1, 1)

    scorer = _Scorer(model, freeze and device.type == "cpu", channels_last)

    def classify(images: np.ndarray) -> np.ndarray:
        pixels = np.asarray(images)
        scale = 1.0 / 255.0 if pixels.dtype == np.uint8 else 1.0
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).to(device)
            if scale != 1.0:
                x = x * scale
            x = (x.permute(0, 3, 1, 2) - mean_t) / std_t
            probs = [torch.softmax(scorer(x[i : i + batch_size]), dim=1) for i in range(0, x.shape[0], batch_size)]
            return torch.cat(probs).float().cpu().numpy()

    return classify
