"""The ``Stage`` base: what every compute stage needs, so that a stage says only what it computes.

A stage reads the study config and the artifact store and returns its section of ``results.json`` (numbers
only; sentences are made in ``render``). The base owns:

* cached compute: :meth:`Stage.key` names an artifact by its inputs and the fingerprint of the code that
  computes it: that code's import closure and the library versions it imports (:mod:`xai_report.fingerprint`); :meth:`Stage.cached`
  returns the stored artifact or computes, stores and returns it; :meth:`Stage.lookup` / :meth:`Stage.save`
  serve stages that compute many artifacts in one batch. Reuse is counted once per key and build;
* export of raw results into the study's output folder (:meth:`Stage.export`, written only when changed);
* compute timings (:attr:`Stage.stats`, which go to ``timings.json``, never to ``results.json``);
* model loading from the config (:meth:`Stage.load_model`), moved to the study's device;
* the layer-shape probe (:func:`output_shapes`).

Subclasses set :attr:`name` (their section of ``results.json``) and implement :meth:`enabled` and :meth:`run`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Sequence

import torch
from torch import nn

from .config import Study
from .errors import ConfigError
from .fingerprint import Code, code_fingerprint
from .models import LoadedModel, load_model, pick_device, resolve_layer
from .store import Artifact, ArtifactStore, content_key, write_if_changed

Computed = tuple[dict, dict]
"""What a compute function returns: the artifact's JSON meta and its files (name -> bytes or array)."""


@dataclass
class StageStats:
    computed: int = 0
    reused: int = 0
    seconds: float = 0.0
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    """Compute seconds per item and part, as measured when each artifact was made (``timings.json``)."""


class Stage(ABC):
    """One compute stage of the pipeline; see the module docstring for what the base provides."""

    name: ClassVar[str] = ""
    """The stage's section of ``results.json`` (and its name on the command line)."""

    def __init__(self, study: Study, store: ArtifactStore, device: torch.device | None = None):
        self.study = study
        self.store = store
        self.out = study.output_path
        self.device = device if device is not None else pick_device(study.device)
        self.stats = StageStats()
        self._seen: set[str] = set()

    # -- what a subclass provides --------------------------------------------------------------

    @classmethod
    @abstractmethod
    def enabled(cls, study: Study) -> bool:
        """Whether the study runs this stage."""

    @classmethod
    def check(cls, study: Study) -> None:
        """Checks of the study that only this stage's registries can make (methods and their parameters, ...),
        before any compute; one-line :class:`~xai_report.errors.ConfigError`. None by default."""

    @abstractmethod
    def run(self) -> dict:
        """Compute (or reuse) everything and return this stage's section of ``results.json``."""

    # -- cached compute ------------------------------------------------------------------------

    def key(self, kind: str, *, code: Code | Iterable[Code], **parts: Any) -> str:
        """The store key of an artifact: its kind and inputs (``parts``) and the fingerprint of ``code``, the
        functions, classes or modules that compute it (their import closure within our package and the versions
        of the distributions it imports: :func:`~xai_report.fingerprint.code_fingerprint`)."""
        return content_key(kind=kind, code=code_fingerprint(code), **parts)

    def lookup(self, key: str) -> Artifact | None:
        """The stored artifact of ``key``, or None; counted as reused the first time this build reads it."""
        found = self.store.get(key)
        if found is not None and key not in self._seen:
            self.stats.reused += 1
            self._seen.add(key)
        return found

    def save(self, key: str, meta: dict, files: dict | None = None) -> Artifact:
        """Store a freshly computed artifact (counted as computed)."""
        self.stats.computed += 1
        self._seen.add(key)
        return self.store.put(key, meta, files)

    def cached(self, key: str, compute: Callable[[], Computed]) -> Artifact:
        """The artifact of ``key``: reused if stored, else ``compute()``d (its seconds go into the meta)."""
        found = self.lookup(key)
        if found is not None:
            return found
        start = time.perf_counter()
        meta, files = compute()
        meta["seconds"] = round(time.perf_counter() - start, 3)
        return self.save(key, meta, files)

    # -- exports and timings -------------------------------------------------------------------

    def export(self, relative: str, data: bytes) -> str:
        """Write a raw result to ``<output>/<relative>`` unless it already holds ``data``; returns ``relative``."""
        return export_file(self.out, relative, data)

    def add_time(self, part: str, seconds: float, count_name: str, count: int = 1) -> None:
        """Add an artifact's compute seconds (as measured when it was made) to a part of the stage."""
        entry = self.stats.timings.setdefault(part, {"seconds": 0.0, count_name: 0})
        entry["seconds"] = round(entry["seconds"] + seconds, 4)
        entry[count_name] = entry.get(count_name, 0) + count

    # -- models --------------------------------------------------------------------------------

    def load_model(self, key: str) -> LoadedModel:
        """The study's model ``key``, in eval mode on this stage's device (errors name ``models.<key>``)."""
        spec = self.study.models[key]
        try:
            model = load_model(spec.loader_spec(), offline=self.study.offline)
        except ConfigError as exc:
            raise ConfigError(f"models.{key}: {exc}") from None
        model.module.to(self.device).eval()
        return model


def export_file(root: Path, relative: str, data: bytes) -> str:
    """Write ``data`` to ``root / relative`` (atomically) unless the file already holds it; returns ``relative``."""
    write_if_changed(root / relative, data)
    return Path(relative).as_posix()


def output_shapes(module: nn.Module, layers: Sequence[str], x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """The output shape of each named layer of ``module`` on input ``x`` (one forward pass, no autograd).

    Layers whose output is not a tensor are left out. The hooks return None, so the outputs are unchanged.
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def record(layer: str):
        def hook(_module, _inputs, out) -> None:
            if isinstance(out, torch.Tensor):
                shapes.setdefault(layer, tuple(out.shape))
        return hook

    handles = [resolve_layer(module, layer).register_forward_hook(record(layer)) for layer in layers]
    try:
        with torch.inference_mode():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return shapes
