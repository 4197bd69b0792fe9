"""The artifact cache a computation is given: name an artifact, reuse or compute it, export a raw result.

Helpers of the stages (the per-image attribution work, map measures, the dissection's features and labels) take an
:class:`ArtifactCache` and the model, layer, device and seed they use, never the stage itself, so that they can run
wherever a cache can be built (a test's fake, another process holding the same store). :class:`StoreCache` is the
one implementation: an :class:`~xai_report.store.ArtifactStore` and the study's output folder. Compute seconds go to
a :class:`Timings` recorder passed explicitly (``timings.json``, never ``results.json``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from .fingerprint import Code, code_fingerprint
from .store import Artifact, ArtifactStore, content_key, write_if_changed

Computed = tuple[dict, dict]
"""What a compute function returns: the artifact's JSON meta and its files (name -> bytes or array)."""


class ArtifactCache(Protocol):
    """What a computation needs of the artifact store (see :class:`StoreCache`)."""

    def key(self, kind: str, *, code: Code | Iterable[Code], **parts: Any) -> str:
        """The store key of an artifact: its kind and inputs (``parts``) and the fingerprint of ``code``, what
        computes it (:func:`~xai_report.fingerprint.code_fingerprint`)."""

    def stored(self, key: str) -> bool:
        """Whether ``key`` is stored (a look, not a use: not counted as reused)."""

    def lookup(self, key: str) -> Artifact | None:
        """The stored artifact of ``key`` (counted as reused), or None."""

    def save(self, key: str, meta: dict, files: dict | None = None) -> Artifact:
        """Store a freshly computed artifact (counted as computed)."""

    def cached(self, key: str, compute: Callable[[], Computed]) -> Artifact:
        """The artifact of ``key``: reused if stored, else ``compute()``d (its seconds go into the meta)."""

    def export(self, relative: str, data: bytes) -> str:
        """Write a raw result under the output folder unless it already holds ``data``; returns ``relative``."""


@dataclass
class CacheCounts:
    computed: int = 0
    reused: int = 0
    """Artifacts read from the store, each key counted once per build."""


class StoreCache:
    """An :class:`ArtifactCache` over ``store`` exporting into ``out``; counts go to ``counts``."""

    def __init__(self, store: ArtifactStore, out: Path, counts: CacheCounts | None = None):
        self.store = store
        self.out = out
        self.counts = counts if counts is not None else CacheCounts()
        self._seen: set[str] = set()

    def key(self, kind: str, *, code: Code | Iterable[Code], **parts: Any) -> str:
        """The store key of an artifact: its kind and inputs (``parts``) and the fingerprint of ``code``, the
        functions, classes or modules that compute it (their import closure within our package and the versions
        of the distributions it imports)."""
        return content_key(kind=kind, code=code_fingerprint(code), **parts)

    def stored(self, key: str) -> bool:
        return self.store.get(key) is not None

    def lookup(self, key: str) -> Artifact | None:
        found = self.store.get(key)
        if found is not None and key not in self._seen:
            self.counts.reused += 1
            self._seen.add(key)
        return found

    def save(self, key: str, meta: dict, files: dict | None = None) -> Artifact:
        self.counts.computed += 1
        self._seen.add(key)
        return self.store.put(key, meta, files)

    def cached(self, key: str, compute: Callable[[], Computed]) -> Artifact:
        found = self.lookup(key)
        if found is not None:
            return found
        start = time.perf_counter()
        meta, files = compute()
        meta["seconds"] = round(time.perf_counter() - start, 3)
        return self.save(key, meta, files)

    def export(self, relative: str, data: bytes) -> str:
        return export_file(self.out, relative, data)


def export_file(root: Path, relative: str, data: bytes) -> str:
    """Write ``data`` to ``root / relative`` (atomically) unless the file already holds it; returns ``relative``."""
    write_if_changed(root / relative, data)
    return Path(relative).as_posix()


class Timings:
    """Compute seconds per part, as measured when each artifact was made (``timings.json``).

    ``entries`` is the dict written out: ``{part: {"seconds": s, <count name>: n}}``.
    """

    def __init__(self, entries: dict[str, dict[str, float]] | None = None):
        self.entries = entries if entries is not None else {}

    def add(self, part: str, seconds: float, count_name: str, count: int = 1) -> None:
        """Add an artifact's compute seconds to ``part`` and ``count`` to its count."""
        entry = self.entries.setdefault(part, {"seconds": 0.0, count_name: 0})
        entry["seconds"] = round(entry["seconds"] + seconds, 4)
        entry[count_name] = entry.get(count_name, 0) + count
