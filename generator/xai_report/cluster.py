"""A Dask distributed cluster that runs a build's per-image work: started here (``--workers N``) or joined
(``--scheduler tcp://HOST:8786``).

Only a build given one of these options imports this module, and only :func:`connect` imports Dask: the serial
build never loads it. The engine runs one task per job (:meth:`DaskEngine.run`) and hands the results back as they
finish; a worker that dies mid-task has its tasks run again on another (Dask's scheduler does this on its own), and
a task writes nothing the driver does not store itself (:mod:`xai_report.attribution.remote`), so nothing is lost
or stored twice.

Workers are processes that run one task at a time. Torch's CPU results depend on its thread count (a
convolution's sums are split by thread), and Dask starts its worker processes with ``OMP_NUM_THREADS=1``, so every
worker sets the torch threads of the build's own process by default (:attr:`DaskEngine.threads_per_worker`): a
distributed build then gives the bits of a serial one (on a fleet of machines like the driver's). ``threads``
trades that for less oversubscription on a local cluster (e.g. ``cores // N``). Local workers inherit this process's
environment, so the malloc settings (:mod:`.memory`) are set in it before they start; ``xai-report worker`` starts
a worker of a running cluster with them.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

from .errors import XaiReportError
from .extras import require
from .memory import wanted


_PRE_SPAWN = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""The variables Dask's default ``distributed.nanny.pre-spawn-environ`` sets."""


class DaskEngine:
    """A Dask client (and the local cluster it started, if any) that runs jobs; see :func:`connect`."""

    def __init__(self, client: Any, cluster: Any = None, threads_per_worker: int | None = None):
        self.client = client
        self.cluster = cluster
        self.threads_per_worker = threads_per_worker
        """Torch threads each worker sets for its tasks (None: the worker's own setting)."""

    def run(self, fn: Callable[[Any], Any], jobs: list) -> Iterator[tuple[int, Any]]:
        """Submit ``fn(job)`` for every job; yield ``(index, result)`` as each finishes (a task's error is raised
        here). Each job is a task of its own, none merged with another. At most :meth:`window` tasks are out at
        once, so the driver's and the scheduler's memory stay flat however many jobs there are."""
        from distributed import as_completed

        waiting = iter(enumerate(jobs))
        out: dict[str, tuple[int, Any]] = {}
        finished = as_completed(with_results=True)

        def submit_next() -> None:
            for index, job in waiting:
                future = self.client.submit(fn, job, pure=False)
                out[future.key] = (index, future)
                finished.add(future)
                return

        for _ in range(self.window()):
            submit_next()
        try:
            for future, result in finished:
                index, _ = out.pop(future.key)
                submit_next()
                yield index, result
        finally:
            for _, future in out.values():
                future.cancel()

    def window(self) -> int:
        """Tasks kept out at once: two per worker thread of the cluster (at least 2), so no worker waits."""
        return max(2, 2 * sum(self.client.nthreads().values()))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def connect(workers: int | None = None, scheduler: str | None = None, threads: int | None = None) -> DaskEngine:
    """A local cluster of ``workers`` processes, or a client of the running ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``); the workers use ``threads`` torch threads (default: this process's, a serial build's).
    Raises :class:`XaiReportError` (one line) when the scheduler cannot be reached."""
    if (workers is None) == (scheduler is None):
        raise XaiReportError("give either --workers N or --scheduler ADDRESS, not both")
    os.environ.update(wanted())  # workers inherit the environment: glibc reads it when a process starts
    require("distributed", "cluster", "--workers and --scheduler")
    import dask
    from distributed import Client

    import torch

    threads = threads or torch.get_num_threads()
    if scheduler is not None:
        try:
            return DaskEngine(Client(scheduler, timeout=dask.config.get("distributed.comm.timeouts.connect")),
                              threads_per_worker=threads)
        except (OSError, TimeoutError) as exc:
            raise XaiReportError(f"--scheduler {scheduler}: cannot reach the scheduler ({exc}); start one with "
                                 "`dask scheduler` and workers with `xai-report worker ADDRESS`") from None
    if workers < 1:
        raise XaiReportError(f"--workers {workers}: give at least 1 worker")
    cluster = local_cluster(workers)
    return DaskEngine(Client(cluster), cluster, threads)


def local_cluster(workers: int) -> Any:
    """A Dask ``LocalCluster`` of ``workers`` single-task processes that inherit this process's environment.

    Each worker's nanny runs in this process and would write Dask's pre-spawn environment (OMP_NUM_THREADS=1 and
    others) into its ``os.environ``; with none, this process's environment stays as it was (and so does that of
    any process it starts later), and the workers get it as a serial build would.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({f"distributed.nanny.pre-spawn-environ.{name}": None for name in _PRE_SPAWN}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
