"""The one interface every attribution method implements: ``explain(model, image, target) -> Explanation``.

In the spirit of ``pytorch-grad-cam``'s ``BaseCAM`` and captum's ``attr`` (one algorithm per class), an
:class:`Explainer` turns one prepared image and one class into an :class:`Explanation`; the stage, the
metrics, the overlays and the pages only ever see Explanations, never which kind of method made them.

* :class:`Explanation` -- a saliency map at the model's input resolution (higher = more evidence for the
  target class), plus, optionally, region-level evidence (:class:`Regions`: segment ids and one weight per
  segment, e.g. LIME's superpixels), extra arrays and JSON numbers the method has of its own.
* :class:`Explainer` -- constructed once per build from :class:`Settings` (the registry in
  :mod:`.registry` says how), then called per image.

Device convention (one for every method): the device is given at construction, ``Settings.device``; the
stage has already moved the model there, and an explainer moves the image tensor there itself.

Storage: :meth:`Explanation.stored` and :meth:`Explanation.from_artifact` are the only code that knows how
an Explanation lies in the artifact store (``map.npy``, ``regions.npy``, ``<name>.npy``, ``meta.json``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ...data import PreparedImage
from ...models.preprocess import Preprocess
from ...models.tokens import TokenLayout
from ...store import Artifact
from .. import overlays


MAP_FILE = "map.npy"
OVERLAY_FILE = "overlay.jpg"
REGIONS_FILE = "regions.npy"
BASELINE = "Baseline"
"""The :meth:`Explainer.settings` line that names what a method compares the image with (the methodology page's
baseline column)."""


def extra_file(name: str) -> str:
    """The stored file of one of an explanation's own arrays."""
    return f"{name}.npy"


@dataclass(frozen=True)
class Regions:
    """Evidence per image region: ``segments`` (int32 HxW region ids) and ``weights`` (id -> weight).

    A region without a weight counts as weight 0.0 (LIME's sparse surrogate leaves some out).
    """

    segments: np.ndarray
    weights: dict[int, float]

    def pixel_map(self) -> np.ndarray:
        """Each pixel gets its region's weight (float32 HxW, 0.0 where the region has none)."""
        lookup = np.zeros(int(self.segments.max()) + 1, dtype=np.float32)
        for seg, w in self.weights.items():
            lookup[seg] = w
        return lookup[self.segments]

    def json_weights(self) -> dict[str, float]:
        """The weights as JSON: string ids, in string order (as sorted JSON keeps them)."""
        return dict(sorted((str(k), v) for k, v in self.weights.items()))


@dataclass
class Explanation:
    """What an explainer found for one image and one class."""

    map: np.ndarray
    """float32 HxW at the model's input resolution; higher = more evidence for the target class."""
    regions: Regions | None = None
    """Region-level evidence, when the method works on regions (region agreement is measured against it)."""
    files: dict[str, np.ndarray] = field(default_factory=dict)
    """Other arrays of the method's own, exported as ``maps/<image>_<method>_<name>.npy``."""
    fields: dict[str, Any] = field(default_factory=dict)
    """JSON values of the method's own, copied into the method's entry of ``results.json``.

    Names in ``files`` and ``fields`` share that entry with ``class_index``, ``map``, ``overlay`` and, with
    regions, ``segments`` and ``weights``: they must not be any of these."""

    def stored(self, overlay: bytes) -> tuple[dict, dict]:
        """(meta, files) for the artifact store, with the overlay picture."""
        files: dict[str, Any] = {MAP_FILE: self.map, OVERLAY_FILE: overlay}
        # Pairs, not an object: the store sorts JSON keys, and the fields keep the method's order.
        meta: dict[str, Any] = {"fields": [[k, v] for k, v in self.fields.items()], "files": list(self.files)}
        if self.regions is not None:
            files[REGIONS_FILE] = self.regions.segments
            meta["region_weights"] = self.regions.json_weights()
        files.update({extra_file(name): array for name, array in self.files.items()})
        return meta, files

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Explanation:
        """The Explanation an artifact written from :meth:`stored` holds."""
        meta = artifact.meta
        regions = None
        if "region_weights" in meta:
            weights = {int(k): float(v) for k, v in meta["region_weights"].items()}
            regions = Regions(artifact.array(REGIONS_FILE), weights)
        files = {name: artifact.array(extra_file(name)) for name in meta["files"]}
        return cls(artifact.array(MAP_FILE), regions, files, {k: v for k, v in meta["fields"]})


@dataclass(frozen=True)
class Settings:
    """What an explainer may take from the study, resolved once by the stage."""

    batch_size: int
    """``attribution.batch_size``: images per forward pass for methods that run many (Ablation-CAM, Score-CAM)."""
    layer: nn.Module
    """The target layer (``attribution.layer``) inside the model, for CAMs."""
    preprocess: Preprocess
    """The model's input pipeline (mean and std for methods that perturb pixels)."""
    device: torch.device
    """Where the model is; explainers put their inputs there."""
    seed: int
    """The study's seed: methods that sample draw from it, so one config gives one map."""
    method_tables: Mapping[str, dict] = field(default_factory=dict)
    """Each method's table of the study file (``[attribution.<method>]`` -> ``{"<method>": {...}}``), as written: the
    method's registry entry validates it into its own parameter model (:mod:`.registry`)."""
    layout: TokenLayout | None = None
    """How the target layer's output lies (:mod:`xai_report.models.tokens`); token layers get a reshape."""


class Explainer(ABC):
    """One attribution method. Subclasses implement :meth:`explain`; see the module docstring."""

    @abstractmethod
    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        """Explain class ``target`` of ``model`` (in eval mode, on the settings' device) for ``image``."""

    def params(self) -> dict[str, Any]:
        """The settings that change this method's output (JSON): part of its artifacts' cache key."""
        return {}

    @property
    def runs(self) -> tuple[Any, ...]:
        """The code that computes this explainer's maps (classes or functions): their modules' import closure and
        their qualified names are part of the maps' cache key (:mod:`xai_report.fingerprint`)."""
        return (type(self),)

    def settings(self) -> dict[str, str]:
        """Lines for this method's row of the methodology page (name -> value as text, in the order shown). A method
        that compares the image with a reference names it in a line keyed :data:`BASELINE` (``"Baseline"``), e.g.
        ``{"Steps": "50", "Baseline": "black (pixel zeros, then normalised)"}``: the page gives it its own column."""
        return {}

    def overlay(self, rgb: np.ndarray, explanation: Explanation) -> bytes:
        """The explanation drawn on the photo (HxWx3 in [0, 1]) as JPEG: by default the map, min-max scaled,
        as a jet heatmap (red = most evidence)."""
        return overlays.heatmap_overlay(rgb, explanation.map)


def explained(method: str, explainer: Explainer, model: nn.Module, image: PreparedImage, target: int,
              seed: int) -> tuple[dict, dict]:
    """Compute one explanation as an artifact of ``method``: torch's global seed set to the study's,
    ``explainer.explain``, the overlay drawn, then (meta, files) as :meth:`Explanation.stored` lays them out."""
    torch.manual_seed(seed)
    found = explainer.explain(model, image, target)
    meta, files = found.stored(explainer.overlay(image.rgb, found))
    return {"method": method, **meta}, files


def exported_entry(artifact: Artifact, base: str, class_index: int, export: Callable[[str, bytes], str]) -> dict:
    """A method's entry of an image record in ``results.json``: its map and overlay exported as
    ``maps/<base>.npy`` and ``overlays/<base>.jpg`` (``base`` = ``<image>_<method>``), its regions (segment ids
    and weights) if it has any, its own arrays and its own fields. ``export(relative path, bytes)`` writes a
    raw result and returns its path."""
    found = Explanation.from_artifact(artifact)
    entry = {
        "class_index": class_index,
        "map": export(f"maps/{base}.npy", artifact.file(MAP_FILE).read_bytes()),
        "overlay": export(f"overlays/{base}.jpg", artifact.file(OVERLAY_FILE).read_bytes()),
    }
    if found.regions is not None:
        entry["segments"] = export(f"maps/{base}_segments.npy", artifact.file(REGIONS_FILE).read_bytes())
        entry["weights"] = found.regions.json_weights()
    for name in found.files:
        entry[name] = export(f"maps/{base}_{name}.npy", artifact.file(extra_file(name)).read_bytes())
    entry.update(found.fields)
    return entry
