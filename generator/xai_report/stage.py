"""The ``Stage`` base: what every compute stage needs, so that a stage says only what it computes.

A stage reads the study config and the artifact store and returns its section of ``results.json`` (numbers
only; sentences are made in ``render``). The base owns:

* an artifact cache (:attr:`Stage.cache`, a :class:`~xai_report.cache.StoreCache`) that it hands to its helpers:
  :meth:`Stage.key` names an artifact by its inputs and the fingerprint of the code that computes it: that code's
  import closure and the library versions it imports (:mod:`xai_report.fingerprint`); :meth:`Stage.cached` returns
  the stored artifact or computes, stores and returns it; :meth:`Stage.lookup` / :meth:`Stage.save` serve stages that compute many
  artifacts in one batch. Reuse is counted once per key and build;
* export of raw results into the study's output folder (:meth:`Stage.export`, written only when changed);
* compute timings (:attr:`Stage.stats`, recorded through :attr:`Stage.timings`, which go to ``timings.json``,
  never to ``results.json``);
* model loading from the config (:func:`load_study_model`), moved to the study's device.

Subclasses set :attr:`name` (their section of ``results.json``) and implement :meth:`enabled` and :meth:`run`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable

import torch

from .cache import CacheCounts, Computed, StoreCache, Timings, export_file
from .config import Study
from .errors import ConfigError
from .fingerprint import Code
from .models import LoadedModel, load_model, pick_device
from .store import Artifact, ArtifactStore

__all__ = ["Computed", "Stage", "StageStats", "export_file", "load_study_model"]


@dataclass
class StageStats(CacheCounts):
    seconds: float = 0.0
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    """Compute seconds per item and part, as measured when each artifact was made (``timings.json``)."""


class Stage(ABC):
    """One compute stage of the pipeline; see the module docstring for what the base provides."""

    name: ClassVar[str] = ""
    """The stage's section of ``results.json`` (and its name on the command line)."""
    engine: Any = None
    """Where a stage that can spread its per-item work runs it (:class:`xai_report.cluster.DaskEngine`, set by the
    pipeline for ``--workers`` / ``--scheduler``); None: in this process."""

    def __init__(self, study: Study, store: ArtifactStore, device: torch.device | None = None):
        self.study = study
        self.store = store
        self.out = study.output_path
        self.device = device if device is not None else pick_device(study.device)
        self.stats = StageStats()
        self.cache = StoreCache(store, self.out, self.stats)
        """What the stage hands its helpers: keys, cached compute and exports (counted in :attr:`stats`)."""
        self.timings = Timings(self.stats.timings)

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

    # -- cached compute (the stage's :attr:`cache`) ---------------------------------------------

    def key(self, kind: str, *, code: Code | Iterable[Code], **parts: Any) -> str:
        """The store key of an artifact: its kind and inputs (``parts``) and the fingerprint of ``code``, the
        functions, classes or modules that compute it (their import closure within our package and the versions
        of the distributions it imports: :func:`~xai_report.fingerprint.code_fingerprint`)."""
        return self.cache.key(kind, code=code, **parts)

    def lookup(self, key: str) -> Artifact | None:
        """The stored artifact of ``key``, or None; counted as reused the first time this build reads it."""
        return self.cache.lookup(key)

    def save(self, key: str, meta: dict, files: dict | None = None) -> Artifact:
        """Store a freshly computed artifact (counted as computed)."""
        return self.cache.save(key, meta, files)

    def cached(self, key: str, compute: Callable[[], Computed]) -> Artifact:
        """The artifact of ``key``: reused if stored, else ``compute()``d (its seconds go into the meta)."""
        return self.cache.cached(key, compute)

    # -- exports and timings -------------------------------------------------------------------

    def export(self, relative: str, data: bytes) -> str:
        """Write a raw result to ``<output>/<relative>`` unless it already holds ``data``; returns ``relative``."""
        return self.cache.export(relative, data)

    def add_time(self, part: str, seconds: float, count_name: str, count: int = 1) -> None:
        """Add an artifact's compute seconds (as measured when it was made) to a part of the stage."""
        self.timings.add(part, seconds, count_name, count)


def load_study_model(study: Study, key: str, device: torch.device) -> LoadedModel:
    """The study's model ``key``, in eval mode on ``device`` (errors name ``models.<key>``)."""
    spec = study.models[key]
    try:
        model = load_model(spec.loader_spec(), offline=study.offline)
    except ConfigError as exc:
        raise ConfigError(f"models.{key}: {exc}") from None
    model.module.to(device).eval()
    return model
