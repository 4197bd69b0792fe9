"""Dissection's probe features computed on worker processes (a Dask cluster); the driver keeps the store.

The driver lists the fixed blocks of probe images that miss an artifact (:meth:`.features.ProbeFeatures.missing_blocks`:
``dissection.batch_size`` consecutive images, the same blocks as a serial build) and sends each as a
:class:`BlockJob`. A worker sets up the study's dissected models, their randomised twins and CLIP once per process
(:func:`networks_for`, as the stage does), computes the block whole with a
:class:`~xai_report.tasks.RecordingCache` (hits from the driver's store when the worker can see it;
new artifacts into a scratch store of the task's own) and returns a :class:`BlockResult`: the new artifacts and the
block's unreadable images. The driver stores the artifacts as they come and hands the blocks back in order, so
the store, the skip records and every later number are those of a serial build. The labels, strips and summaries
that read these features run on the driver, from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

from ..cache import ArtifactCache, Timings
from ..config import Study
from ..fingerprint import code_fingerprint
from ..models import pick_device
from ..store import content_key
from ..tasks import Engine, Identity, NewArtifact, PerProcess, task_cache, use_threads
from .features import BlockDone
from .probe import ProbeImage
from .setup import Networks, set_up


@dataclass(frozen=True)
class BlockJob:
    """One block of probe images for a worker, with what it needs to set up the study's models itself (picklable)."""

    study: Study
    identity: Identity
    block: list[ProbeImage]
    store_root: str
    """The driver's store: read (never written) by a worker that can see it."""
    threads: int | None
    """Torch threads for the task (the build's own count, for a serial build's bits), or None (the worker's)."""


@dataclass
class BlockResult:
    """What a worker returns for one block."""

    artifacts: list[NewArtifact] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    """Skip records of the block's images that could not be read, in block order."""
    unreadable: list[str] = field(default_factory=list)
    """Their hashes."""


def identity(study: Study, model_ids: dict[str, dict]) -> Identity:
    """The driver's :class:`~xai_report.tasks.Identity` for ``study`` with its models identified by
    ``model_ids`` (weights and preprocessing, twins included): a worker that loads other weights stops the build."""
    return Identity(content_key(study=study.model_dump(mode="json"), models=model_ids), code_id())


def code_id() -> str:
    """The fingerprint of the code a worker runs (:func:`features_on_worker`'s import closure, library versions)."""
    return content_key(code=code_fingerprint(features_on_worker))


_NETWORKS: PerProcess[Networks] = PerProcess()
"""The networks each worker process sets up, once per study (:func:`networks_for`)."""


def networks_for(job: BlockJob) -> Networks:
    """The study's dissected networks (models, twins, CLIP) on this worker's device, set up once per process."""
    return _NETWORKS.get(job.identity, code_id(), lambda: set_up(job.study, pick_device(job.study.device)),
                         lambda networks: identity(job.study, networks.model_ids).study)


def features_on_worker(job: BlockJob) -> BlockResult:
    """The worker's task: :meth:`~xai_report.dissect.features.ProbeFeatures.compute_block` of ``job.block``."""
    use_threads(job.threads)
    networks = networks_for(job)
    with task_cache(job.store_root) as cache:
        features = networks.features(job.study.dissection, cache, Timings(), pick_device(job.study.device))
        skipped: list[dict] = []
        unreadable = features.compute_block(job.block, skipped)
        return BlockResult(cache.new_artifacts(), skipped, sorted(unreadable))


def spread_blocks(cache: ArtifactCache, todo: list[Sequence[ProbeImage]], engine: Engine, jobs: list[BlockJob]
                  ) -> Iterator[BlockDone]:
    """Run ``jobs`` (one per block of ``todo``) on ``engine``; store each block's new artifacts through ``cache`` as
    it arrives (one that is stored already is left as it is) and yield the blocks done, in the order of ``todo``."""
    done: dict[int, BlockResult] = {}
    next_block = 0
    for index, found in engine.run(features_on_worker, jobs):
        for new in found.artifacts:
            if not cache.stored(new.key):
                cache.save(new.key, new.meta, new.files)
        done[index] = found
        while next_block in done:
            result = done.pop(next_block)
            yield todo[next_block], set(result.unreadable), result.skipped
            next_block += 1
