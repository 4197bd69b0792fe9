"""A method of the study as a metric re-runs it: ``Explain(model, x, target) -> map`` (:data:`.base.Explain`).

Our explainers take a :class:`~xai_report.data.PreparedImage`, the pixels and the normalised tensor of one photo.
A metric that re-runs a method (robustness on perturbed inputs, randomisation on perturbed models) has only the
perturbed normalised input ``x``; :class:`Rerun` makes the prepared image that ``x`` is: ``tensor = x`` and
``rgb = x * std + mean`` (HxWx3), not clipped, so that a method reading the pixels (LIME normalises ``rgb``
itself) and one reading the tensor (the CAMs, RISE) both explain the same perturbed input. torch's global seed is
set to the study's before each call, as for the study's own maps (:func:`.explainer.explained`).
"""

from __future__ import annotations

import copy as _copy
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from ...data import PreparedImage
from ...models.preprocess import Preprocess
from ..methods.explainer import Explainer


def prepared_from_tensor(x: torch.Tensor, pre: Preprocess) -> PreparedImage:
    """The prepared image whose normalised tensor is ``x`` (1, 3, H, W): its pixels un-normalised, not clipped."""
    cpu = x.detach().to("cpu", torch.float32)
    mean = torch.tensor(list(pre.mean), dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(list(pre.std), dtype=torch.float32).view(3, 1, 1)
    rgb = (cpu[0] * std + mean).permute(1, 2, 0).numpy().copy()
    return PreparedImage(rgb=rgb, tensor=cpu.contiguous())


@dataclass(frozen=True)
class Rerun:
    """One of the study's explainers as an :data:`~.base.Explain`: ``rerun(model, x, target)`` -> its map.

    ``home`` is the model the explainer was made for. Given another model of the same architecture (the randomised
    copies of the cascading randomisation tests), the explainer is re-bound to it: every layer it holds of ``home``
    (a CAM's target layer) is swapped for the layer of the same name in that model, so the map is of that model."""

    explainer: Explainer
    preprocess: Preprocess
    seed: int
    home: Optional[nn.Module] = None

    def __call__(self, model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
        """The explainer's map (float32 HxW) of class ``target`` of ``model`` for the normalised input ``x``."""
        torch.manual_seed(self.seed)
        explainer = self.explainer if self.home is None or model is self.home else rebound(self.explainer, self.home,
                                                                                           model)
        found = explainer.explain(model, prepared_from_tensor(x, self.preprocess), target)
        return np.asarray(found.map, dtype=np.float32)


def rebound(explainer: Explainer, home: nn.Module, model: nn.Module) -> Explainer:
    """A shallow copy of ``explainer`` whose layers of ``home`` are the same-named layers of ``model``."""
    names = {id(module): name for name, module in home.named_modules()}
    layers = dict(model.named_modules())
    copy = _copy.copy(explainer)
    for attribute, value in vars(explainer).items():
        if isinstance(value, nn.Module) and id(value) in names:
            setattr(copy, attribute, layers[names[id(value)]])
    return copy
