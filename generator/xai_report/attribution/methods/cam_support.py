"""What the fast CAMs (:mod:`.ablation_cam`, :mod:`.score_cam`) share: the target type and a pause of
grad-cam's activation recording while they run their many perturbed passes."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from pytorch_grad_cam.base_cam import BaseCAM

Target = Callable[[torch.Tensor], torch.Tensor]
"""A grad-cam target: model output of one image -> the score to explain (``ClassifierOutputTarget(k)``)."""


class _DiscardList(list):
    """A list that ignores ``append``: stands in for grad-cam's activation record while we run passes."""

    def append(self, item: object) -> None:
        pass


@contextmanager
def activation_recording_paused(cam: BaseCAM) -> Iterator[None]:
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
