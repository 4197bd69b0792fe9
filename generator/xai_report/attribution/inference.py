"""Gradient-free batched inference for the perturbation methods (Score-CAM, LIME).

Score-CAM and LIME cost one forward pass per perturbed image and nothing else worth counting, so their
speed is the speed of a pass. On CPU, :class:`BatchScorer` runs the passes on a frozen TorchScript copy
of the model in chunks sized for the CPU caches, two chunks at a time on their own threads; elsewhere (or when freezing is unsafe) on the eager
model. Either way under ``torch.inference_mode``: no autograd bookkeeping.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional

import torch
from torch import nn

FROZEN_CHECK_TOL = 1e-4
"""Largest difference (relative to the largest logit) a frozen copy may show before we fall back to eager."""

PIXELS_PER_PASS = 8 * 224 * 224
"""Input pixels per forward pass on CPU: 8 images at 224x224, 43 at 96x96.

Measured for ResNet50 on 2 cores (frozen copy, ms per image, best of 3): at 224x224 batches of 2/4/6/8/
12/16 took 45.3/37.7/34.6/33.3/40.3/42.3 ms; at 96x96 batches of 16/24/32/48/64 took 6.9/7.1/6.2/5.9/7.5
ms. Past this size the activations no longer fit the caches.
"""


CPU_STREAMS = 2
"""Chunks a frozen copy runs at once on CPU, each on its own share of the torch threads.

One pass on all cores waits for the slowest core at every layer; two independent passes lose less when a
core stalls (other work on a shared or busy machine). ``python benchmarks/streams.py`` (frozen ResNet50,
224x224, 100 images, 2 cores, ms per image, min/median of 8-12 alternating rounds): one pass at a time
34.8/48.2 and 34.2/47.7, two streams 36.9/41.8 and 34.1/42.6. The best case is the same; the typical one
is 10-15% faster. Outputs differ from one-pass ones by float rounding (6e-5 on logits of up to 112).
"""

_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def stream_pool() -> Optional[ThreadPoolExecutor]:
    """Threads that run :data:`CPU_STREAMS` passes at once, sharing the caller's torch threads; None on 1 thread.

    Each stream thread gets ``torch.get_num_threads() // CPU_STREAMS`` intra-op threads (torch keeps that
    setting per thread), so the streams together use the cores the caller would (rounded down: with an odd
    count, one goes unused).
    """
    threads = torch.get_num_threads()  # also makes torch settle this thread's own count first
    if threads < CPU_STREAMS:
        return None
    key = (os.getpid(), threads)  # a forked child has none of its parent's threads: it needs its own pool
    if key not in _POOLS:
        started = threading.Barrier(CPU_STREAMS)
        pool = ThreadPoolExecutor(CPU_STREAMS, thread_name_prefix="xai-report-pass",
                                  initializer=_start_stream, initargs=(threads // CPU_STREAMS,))
        for future in [pool.submit(started.wait) for _ in range(CPU_STREAMS)]:
            future.result()  # every stream thread exists and has its count (the barrier needs them all)
        # set_num_threads also writes torch's default for threads that start later: give back the caller's.
        torch.set_num_threads(threads)
        _POOLS[key] = pool
    return _POOLS[key]


def _start_stream(threads: int) -> None:
    """A stream thread's first act: settle torch's count for this thread (lazily read otherwise), then set it."""
    torch.get_num_threads()
    torch.set_num_threads(threads)


def images_per_pass(height: int, width: int) -> int:
    """How many ``height`` x ``width`` images one CPU forward pass should take (:data:`PIXELS_PER_PASS`)."""
    return max(1, PIXELS_PER_PASS // max(1, height * width))


_HOOK_DICTS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks", "_forward_hooks_with_kwargs",
               "_forward_hooks_always_called", "_backward_pre_hooks", "_backward_hooks")


@contextlib.contextmanager
def hooks_set_aside(model: nn.Module) -> Iterator[None]:
    """Every module hook of ``model`` removed for the block, then put back as it was.

    A trace records what the hooks do: grad-cam's hooks on the target layer (present while a CAM runs) add
    uses of that layer's output, which stop ``optimize_for_inference`` from fusing it the same way, and the
    frozen copy's floats differ in the last bits (1e-6 on EfficientNet-Lite0's logits). The copy is made
    once per model, by whichever method scores first, so without this a build resumed after a kill (where
    the metrics may score first) would not give the bits of a clean one (where Score-CAM does).
    """
    saved = [(module, name, getattr(module, name)) for module in model.modules() for name in _HOOK_DICTS
             if getattr(module, name, None)]
    for module, name, hooks in saved:
        setattr(module, name, type(hooks)())
    try:
        yield
    finally:
        for module, name, hooks in saved:
            setattr(module, name, hooks)


def frozen_for_cpu(model: nn.Module, example: torch.Tensor) -> Optional[torch.jit.ScriptModule]:
    """A TorchScript copy of ``model`` traced on ``example`` and frozen for CPU inference, or None.

    ``torch.jit.freeze`` + ``optimize_for_inference`` fold batch-norm into the convolutions, fuse
    conv + ReLU / add in oneDNN and pre-pack the weights: about 1.5-1.7x the throughput of the eager model
    for ResNet50 on 2 cores (outputs differ by float rounding, ~1e-7 relative). The copy is a snapshot of
    the weights. Tracing records the one path ``forward`` took on ``example``: if the tracer warns that the
    path depended on tensor values (a Python ``if`` on a tensor, ``.item()``), no copy is made. Returns
    None then, and when tracing or freezing fails (these APIs are deprecated in favour of ``torch.compile``
    and may go); callers fall back to the eager model. The trace never sees the model's hooks
    (:func:`hooks_set_aside`), so the copy is the same whoever asks for it first.
    """
    if example.device.type != "cpu":
        return None
    try:
        with warnings.catch_warnings(record=True) as caught, torch.no_grad(), hooks_set_aside(model):
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


_FROZEN: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, Optional[torch.jit.ScriptModule]]]" = (
    weakref.WeakKeyDictionary()
)
"""Frozen copies made so far, per model, with the weights fingerprint they were made from."""


def weights_fingerprint(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``model`` is replaced or modified in place, or its mode changes.

    Tensors count in-place writes in ``_version``; a replaced tensor has a new ``id``.
    """
    tensors = itertools.chain(model.parameters(), model.buffers())
    return (model.training,) + tuple((id(t), t._version) for t in tensors)


def forget_frozen_copies() -> None:
    """Drop every cached frozen copy (the next call freezes again; benchmarks use this to time a cold call)."""
    _FROZEN.clear()


def frozen_copy(model: nn.Module, probe: torch.Tensor) -> Optional[torch.jit.ScriptModule]:
    """The frozen CPU copy of ``model`` (:func:`frozen_for_cpu`), made once per model and weights, or None.

    A new copy is made, traced on ``probe`` (two images suffice) and checked against the eager model on
    it, the first time and after any change to the weights or to train/eval mode; None for a model in
    training mode (freezing would fix its batch-norm statistics), when freezing fails, or when the copy
    disagrees with the model beyond float rounding (with a warning).
    """
    fingerprint = weights_fingerprint(model)
    cached = _FROZEN.get(model)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    frozen = None if model.training else frozen_for_cpu(model, probe)
    if frozen is not None:
        with torch.inference_mode():
            if not frozen_agrees(frozen(probe), model(probe)):
                warnings.warn("the frozen CPU copy of the model disagrees with it; using the eager model")
                frozen = None
    _FROZEN[model] = (fingerprint, frozen)
    return frozen


class BatchScorer:
    """Calls the model on batches of any size, chunk by chunk, without autograd; returns the outputs.

    With ``freeze`` (CPU inputs only) the passes use the model's frozen copy (:func:`frozen_copy`: made on
    the first call, checked against the eager model, reused while the weights stay the same), else the
    eager model. ``chunk`` is the number of images per pass; by default, on CPU, :func:`images_per_pass`
    of the input size, elsewhere the whole batch. With ``streams`` the frozen copy's passes run
    :data:`CPU_STREAMS` at once (:func:`stream_pool`), in equal chunks of at most about ``chunk`` images.
    """

    def __init__(
        self, model: nn.Module, freeze: bool = True, chunk: Optional[int] = None, streams: bool = True
    ) -> None:
        self.model = model
        self.freeze = freeze
        self.chunk = chunk
        self.streams = streams
        self.frozen: Optional[torch.jit.ScriptModule] = None
        self.checked = False
        self.device = next(itertools.chain(model.parameters(), model.buffers()), torch.empty(0)).device
        """Where the model's weights are (inputs must be there too)."""

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self.chunk:
            chunk = self.chunk
        elif batch.device.type == "cpu":
            chunk = images_per_pass(*batch.shape[-2:])
        else:
            chunk = batch.shape[0]  # accelerators want large batches; the caller sized it
        with torch.inference_mode():
            if not self.checked:
                self.checked = True
                if self.freeze and batch.device.type == "cpu":
                    self.frozen = frozen_copy(self.model, batch[:2].contiguous())
            pool = stream_pool() if self.streams and self.frozen is not None else None
            if pool is None:
                outputs = [self._pass(part) for part in torch.split(batch, chunk)]
            else:  # every frozen pass runs on a stream thread, so an image's scores never depend on its batch
                count = -(-batch.shape[0] // chunk)  # ceil
                count = min(batch.shape[0], count + -count % CPU_STREAMS)  # no stream waits idle at the end
                outputs = list(pool.map(self._pass, torch.tensor_split(batch, count)))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def _pass(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():  # thread-local: the stream threads need it too
            if self.frozen is not None:
                return self.frozen(batch.contiguous())  # NCHW: its oneDNN convolutions reorder channels-last input
            return self._eager(batch)

    def _eager(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.ndim == 4:
            # oneDNN and cuDNN run channels-last convolutions faster than NCHW ones (no reorders per layer).
            batch = batch.contiguous(memory_format=torch.channels_last)
        return self.model(batch)
