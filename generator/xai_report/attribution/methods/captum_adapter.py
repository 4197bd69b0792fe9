"""The adapter from captum's pixel attributions (``captum.attr``) to the :class:`~.explainer.Explainer` interface,
as :mod:`.cam` is for grad-cam's CAMs.

A :class:`CaptumExplainer` binds the study's settings (device, seed, batch size, preprocessing, target layer) and
the method's validated parameters at construction; a method module overrides one thing, :meth:`attribution`: the
image's 1x3xHxW attribution for the target class (captum's tensor, or ours where captum cannot batch), with any
fields of its own. The adapter makes the rest the same for every method:

* **the exported map** is the signed attribution summed over the colour channels, float32 HxW at the model's
  input resolution, so completeness can be checked from the file (``map.sum()`` is the attribution's total);
  Saliency keeps its |gradient| maximum over the channels (:attr:`CaptumExplainer.channels`);
* **the overlay** of a signed map is drawn signed (:func:`~xai_report.attribution.overlays.signed_overlay`: red for
  the class, blue against it, centred on zero);
* **captum missing**: one line naming the extra (``pip install "xai-report[captum]"``), at construction.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from ...data import PreparedImage
from ...extras import require
from .. import overlays
from .explainer import Explainer, Explanation, Regions, Settings


def captum_attr(method: str) -> ModuleType:
    """``captum.attr``, or one line naming the extra that installs it."""
    return require("captum.attr", "captum", f"method {method}")


@dataclass
class Attributed:
    """What a method's :meth:`CaptumExplainer.attribution` returns."""

    tensor: torch.Tensor
    """1x3xHxW attribution of the input (normalised space), for the target class."""
    fields: dict[str, Any] = field(default_factory=dict)
    """JSON values of the method's own (e.g. Integrated Gradients' ``convergence_delta``)."""
    regions: Regions | None = None
    """Region-level evidence, for methods on superpixels (KernelSHAP)."""


class CaptumExplainer(Explainer):
    """One captum method on the study's settings; subclasses set :attr:`name` and implement :meth:`attribution`."""

    name: str = ""
    """The registry name (for messages)."""
    channels: Literal["sum", "absmax", "regions"] = "sum"
    """How the 3 colour channels become the map: their sum (signed), the maximum of their absolute values
    (Saliency), or the regions' weights (KernelSHAP)."""
    batched: bool = False
    """The method runs many passes, ``attribution.batch_size`` at a time (then the batch size is in its key)."""

    def __init__(self, settings: Settings, params: BaseModel) -> None:
        self.attr = captum_attr(self.name)
        self.method = params
        self.device = settings.device
        self.seed = settings.seed
        self.batch_size = settings.batch_size
        self.preprocess = settings.preprocess
        self.layer = settings.layer
        self.method_tables = settings.method_tables

    @abstractmethod
    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        """The attribution of class ``target`` for the normalised input ``x`` (1x3xHxW on the device)."""

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        x = image.tensor.to(self.device)
        with torch.enable_grad():
            found = self.attribution(model, x, int(target), image)
        attribution = found.tensor.detach()[0].double()
        if self.channels == "regions":
            assert found.regions is not None
            mapped = found.regions.pixel_map()
        elif self.channels == "absmax":
            mapped = attribution.abs().amax(dim=0).cpu().numpy()
        else:
            mapped = attribution.sum(dim=0).cpu().numpy()
        return Explanation(map=np.asarray(mapped, dtype=np.float32), regions=found.regions, fields=found.fields)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {**self.method.model_dump(), "seed": self.seed}
        if self.batched:
            params["batch_size"] = self.batch_size
        return params

    def settings(self) -> dict[str, str]:
        values = ", ".join(f"{k} {v}" for k, v in self.method.model_dump().items())
        return {self.name: values or "captum's defaults"}

    def overlay(self, rgb: np.ndarray, explanation: Explanation) -> bytes:
        """Signed maps drawn signed; Saliency's |gradient| as the usual heatmap."""
        if self.channels == "absmax":
            return overlays.heatmap_overlay(rgb, explanation.map)
        return overlays.signed_overlay(rgb, explanation.map)


def layer_name(model: nn.Module, layer: nn.Module) -> str:
    """The name of ``layer`` inside ``model`` (to find it again in a corrected copy)."""
    for name, module in model.named_modules():
        if module is layer:
            return name
    raise ValueError("the target layer is not inside the model")
