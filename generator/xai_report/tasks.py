"""What a build's driver and its worker processes exchange, whatever a task computes (:mod:`.attribution.remote`,
:mod:`.dissect.remote`): the engine that runs tasks, the cache a task computes through, and its new artifacts.

A task stores nothing where the driver keeps its store: it computes through a :class:`RecordingCache` into a
scratch store of its own and returns its new artifacts (:class:`NewArtifact`), which the driver stores. A worker
killed mid-task so loses nothing, and its task can run again elsewhere.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar

import torch

from .cache import StoreCache
from .errors import XaiReportError
from .store import Artifact, ArtifactStore


class Engine(Protocol):
    """Runs ``fn`` on every job elsewhere and yields ``(index of the job, its result)`` as each finishes."""

    def run(self, fn: Callable[[Any], Any], jobs: list) -> Iterator[tuple[int, Any]]:
        ...


class RecordingCache(StoreCache):
    """A worker's cache: new artifacts are stored in ``scratch`` (a folder of the task's own) and recorded, hits come
    from there or from ``shared`` (the driver's store, read-only; None when this machine cannot see it), exports
    are recorded instead of written."""

    def __init__(self, scratch: ArtifactStore, shared: ArtifactStore | None):
        super().__init__(scratch, Path(scratch.root))
        self.shared = shared
        self.new: list[str] = []
        self.reused: list[str] = []
        self.exports: list[tuple[str, bytes]] = []

    def stored(self, key: str) -> bool:
        return self.store.get(key) is not None or (self.shared is not None and self.shared.get(key) is not None)

    def lookup(self, key: str) -> Artifact | None:
        found = self.store.get(key)
        if found is not None or self.shared is None:
            return found
        found = self.shared.get(key)
        if found is not None and key not in self._seen:
            self._seen.add(key)
            self.reused.append(key)
        return found

    def save(self, key: str, meta: dict, files: dict | None = None) -> Artifact:
        artifact = super().save(key, meta, files)
        self.new.append(key)
        return artifact

    def export(self, relative: str, data: bytes) -> str:
        self.exports.append((relative, data))
        return Path(relative).as_posix()

    def new_artifacts(self) -> list[NewArtifact]:
        """The artifacts this task computed, in the order they were saved, as the driver will store them."""
        return [new_artifact(self.store.get(key)) for key in self.new]


@dataclass(frozen=True)
class NewArtifact:
    """An artifact a worker computed: what :meth:`~xai_report.store.ArtifactStore.put` needs to store it again."""

    key: str
    meta: dict
    files: dict[str, bytes]


@dataclass(frozen=True)
class Identity:
    """What a worker checks before it sets up a study's models: the study and models it sets up, and its code."""

    study: str
    """The study's config and the identity of its models: a worker sets them up once per value."""
    code: str
    """The fingerprint of the code the task runs (each remote module's ``code_id``): a worker running other code
    would store artifacts under other keys."""


T = TypeVar("T")


class PerProcess(Generic[T]):
    """What a worker process sets up for a study (a bound model, the dissected networks) and keeps for the study's
    later tasks: one study at a time."""

    def __init__(self) -> None:
        self._held: dict[str, T] = {}

    def get(self, identity: Identity, code: str, make: Callable[[], T], made: Callable[[T], str]) -> T:
        """The value set up for ``identity.study``: ``make()`` the first time, after checking that this worker runs
        the driver's code (``code``, the worker's own fingerprint) and that ``made(value)``, the study identity the
        worker finds, is the driver's (the same model files). One-line :class:`XaiReportError` otherwise."""
        if identity.study not in self._held:
            if identity.code != code:
                raise XaiReportError("a worker runs other xai-report code or libraries than the build: install the "
                                     "same version on every worker and restart them")
            value = make()
            if made(value) != identity.study:
                raise XaiReportError("a worker loads other model weights than the build: give every worker the same "
                                     "model files (a shared folder at the same path)")
            self._held.clear()
            self._held[identity.study] = value
        return self._held[identity.study]


def new_artifact(artifact: Artifact) -> NewArtifact:
    """A stored artifact as a :class:`NewArtifact` (its meta and file bytes), to be stored again by the driver."""
    meta = {k: v for k, v in artifact.meta.items() if k not in ("_key", "_files")}
    return NewArtifact(artifact.meta["_key"], meta, {name: artifact.file(name).read_bytes()
                                                     for name in artifact.meta["_files"]})


def use_threads(threads: int | None) -> None:
    """Set this thread's torch thread count to ``threads`` (the build's own, for a serial build's bits; torch keeps
    the count per thread); None leaves the worker's own."""
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def task_cache(store_root: str) -> Iterator[RecordingCache]:
    """A task's :class:`RecordingCache`: new artifacts go to a scratch store of its own (removed afterwards: take
    :meth:`RecordingCache.new_artifacts` inside), hits are read from the driver's store at ``store_root`` when this
    machine can see it."""
    root = Path(store_root)
    shared = ArtifactStore(root) if (root / "objects").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="xai-report-task.") as scratch_dir:
        yield RecordingCache(ArtifactStore(Path(scratch_dir)), shared)
