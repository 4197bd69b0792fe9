"""The per-image attribution work spread over worker processes (a Dask cluster): the driver keeps the store.

The driver (the build's own process) holds the artifact store and its lock. For each image it first runs
:func:`.image.explain_image` with a :class:`LookupOnlyCache`: an image whose every artifact is stored completes
there and needs no worker; at the first artifact the store lacks, :class:`Missing` stops it and the image is sent
out as a :class:`WorkerJob`. A worker binds the study's model once per process (:func:`bound_for`), runs the same
function with a :class:`~xai_report.tasks.RecordingCache` (hits read from the shared store when the worker can see
it, read-only; new artifacts go to a scratch store of the task's own) and returns a :class:`WorkerResult`: the
image's result, its new artifacts (key, meta, file bytes), its exports and the keys it reused. The driver stores those
(:func:`store_result`) exactly as a serial build would have, so the output is the same byte for byte. A task writes
nothing outside its scratch folder, so a worker killed mid-task loses nothing: its task runs again elsewhere.

Nothing here imports Dask: the engine that runs the jobs is :mod:`xai_report.cluster`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..cache import ArtifactCache, Computed
from ..config import Study
from ..fingerprint import Code, code_fingerprint
from ..labels import Label
from ..models import pick_device
from ..progress import Progress
from ..store import Artifact, content_key
from ..tasks import Engine, Identity, NewArtifact, PerProcess, task_cache, use_threads
from .bound import BoundModel, ImageSettings, bind
from .image import ImageResult, explain_image, steps_per_image
from .inputs import ImageInput


class Missing(Exception):
    """The store lacks an artifact of the image (its key is the message): the image goes to a worker."""


class LookupOnlyCache:
    """The driver's :class:`~xai_report.cache.ArtifactCache` for the first pass: stored artifacts are reused (and
    counted) through ``cache``; computing or saving one raises :class:`Missing`. Exports go through ``cache``."""

    def __init__(self, cache: ArtifactCache):
        self.inner = cache

    def key(self, kind: str, *, code: Code | Iterable[Code], **parts: Any) -> str:
        return self.inner.key(kind, code=code, **parts)

    def stored(self, key: str) -> bool:
        return self.inner.stored(key)

    def lookup(self, key: str) -> Artifact | None:
        return self.inner.lookup(key)

    def save(self, key: str, meta: dict, files: dict | None = None) -> Artifact:
        raise Missing(key)

    def cached(self, key: str, compute: Callable[[], Computed]) -> Artifact:
        found = self.inner.lookup(key)
        if found is None:
            raise Missing(key)
        return found

    def export(self, relative: str, data: bytes) -> str:
        return self.inner.export(relative, data)


@dataclass
class WorkerResult:
    """What a worker returns for one image (see the module docstring)."""

    result: ImageResult
    artifacts: list[NewArtifact] = field(default_factory=list)
    exports: list[tuple[str, bytes]] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def identity(study: Study, bound: BoundModel) -> Identity:
    """The driver's :class:`~xai_report.tasks.Identity` for ``study`` bound as ``bound``."""
    return Identity(content_key(study=study.model_dump(mode="json"), model=bound.model.cache_id()), code_id())


def code_id() -> str:
    """The fingerprint of the code a worker runs (:func:`explain_on_worker`'s import closure, library versions)."""
    return content_key(code=code_fingerprint(explain_on_worker))


@dataclass(frozen=True)
class WorkerJob:
    """One image for a worker, with what it needs to bind the study's model itself (picklable)."""

    study: Study
    identity: Identity
    settings: ImageSettings
    item: ImageInput
    label: Label | None
    """The image's true class (:func:`xai_report.labels.true_labels`, found on the driver), if it has one."""
    store_root: str
    """The driver's store: read (never written) by a worker that can see it."""
    threads: int | None
    """Torch threads for the worker's tasks (the build's own count, for a serial build's bits), or None (its own)."""


_BOUND: PerProcess[BoundModel] = PerProcess()
"""The model each worker process binds, once per study (:func:`bound_for`)."""


def bound_for(job: WorkerJob) -> BoundModel:
    """The study's model on this worker's device, bound once per process and study."""
    return _BOUND.get(job.identity, code_id(), lambda: bind(job.study, pick_device(job.study.device)),
                      lambda bound: identity(job.study, bound).study)


def explain_on_worker(job: WorkerJob) -> WorkerResult:
    """The worker's task: :func:`.image.explain_image` of ``job.item`` through a task's cache
    (:func:`xai_report.tasks.task_cache`)."""
    use_threads(job.threads)
    bound = bound_for(job)
    with task_cache(job.store_root) as cache:
        result = explain_image(job.item, bound, job.settings, cache, label=job.label)
        return WorkerResult(result, cache.new_artifacts(), cache.exports, cache.reused)


def store_result(cache: ArtifactCache, found: WorkerResult) -> ImageResult:
    """Store what a worker returned through the driver's ``cache`` (artifacts saved, exports written, reuse counted),
    as a serial build would have; returns the image's result."""
    for key in found.reused:
        cache.lookup(key)
    for new in found.artifacts:
        cache.save(new.key, new.meta, new.files)
    for relative, data in found.exports:
        cache.export(relative, data)
    return found.result


def explain_spread(inputs: list[ImageInput], bound: BoundModel, settings: ImageSettings, cache: ArtifactCache,
                   engine: Engine, job: Callable[[ImageInput, Label | None], WorkerJob], progress: Progress,
                   labels: Mapping[Path, Label]) -> list[ImageResult]:
    """Every image's result, in image order: those the store completes on the driver, the others from workers
    (``job(item, label)`` says what to send); ``labels``: the images' true classes; ``progress`` is told of each
    image as it finishes."""
    found: dict[int, ImageResult] = {}
    missing: list[int] = []
    lookups = LookupOnlyCache(cache)
    for index, item in enumerate(inputs):
        try:
            found[index] = explain_image(item, bound, settings, lookups, label=labels.get(item.path))
        except Missing:
            missing.append(index)
            continue
        progress.step(steps_per_image(settings))
        progress.done(item.image_id)
    for position, result in engine.run(explain_on_worker, [job(inputs[i], labels.get(inputs[i].path)) for i in missing]):
        index = missing[position]
        found[index] = store_result(cache, result)
        progress.step(steps_per_image(settings), f"{inputs[index].image_id[:24]} (worker)")
        progress.done(inputs[index].image_id)
    return [found[i] for i in range(len(inputs))]
