"""The artifact store: every computed thing, keyed by what produced it.

An artifact is a folder ``objects/<k[:2]>/<k>/`` holding ``meta.json`` and its files (``.npy`` arrays,
JPEG overlays). The key is the SHA-256 of a canonical JSON of its inputs (model and weights id, image
bytes, method, parameters, code version), so a changed input gives a new key and nothing stale is reused.

Writes are atomic: an artifact is assembled in ``tmp/`` and renamed into place in one step, so a build
killed at any moment leaves either the whole artifact or none of it. ``lock()`` keeps two builds from
writing one store at once. Two processes that write the same key (two workers) both succeed: the rename
of the second fails because the folder is there, and it keeps the complete artifact it finds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import XaiReportError

STORE_FORMAT = 1
RENAME_TRIES = 5
"""How often ``put`` moves an incomplete leftover aside and tries again before giving up."""


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def content_key(**parts: Any) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (plus the store format)."""
    return hashlib.sha256(canonical_json({"store_format": STORE_FORMAT, **parts}).encode()).hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file through a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_if_changed(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (atomically) unless the file already holds exactly it, so that unchanged
    raw results and pages keep their modification times."""
    if not (path.is_file() and path.read_bytes() == data):
        write_atomic(path, data)


@dataclass(frozen=True)
class Artifact:
    path: Path
    meta: dict

    def file(self, name: str) -> Path:
        return self.path / name

    def array(self, name: str) -> np.ndarray:
        return np.load(self.path / name, allow_pickle=False)


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"

    def _dir(self, key: str) -> Path:
        return self.objects / key[:2] / key

    def get(self, key: str) -> Artifact | None:
        """The artifact of ``key`` if it is complete, else None (an unreadable one counts as missing)."""
        folder = self._dir(key)
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not all((folder / name).is_file() for name in meta.get("_files", [])):
            return None
        return Artifact(folder, meta)

    def put(self, key: str, meta: dict, files: dict[str, bytes | np.ndarray] | None = None) -> Artifact:
        """Store an artifact atomically; its files are bytes or numpy arrays (saved as ``.npy``)."""
        files = files or {}
        self.tmp.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{key[:12]}.", dir=self.tmp))
        try:
            for name, content in files.items():
                data = npy_bytes(content) if isinstance(content, np.ndarray) else content
                (staging / name).write_bytes(data)
            meta_text = json.dumps({**meta, "_key": key, "_files": sorted(files)}, indent=1, sort_keys=True)
            (staging / "meta.json").write_text(meta_text)
            full_meta = json.loads(meta_text)  # exactly what get() returns later: a fresh build = a cached one
            final = self._dir(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            for _ in range(RENAME_TRIES):
                try:
                    os.rename(staging, final)
                    return Artifact(final, full_meta)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                stored = self.get(key)
                if stored is not None:  # another writer stored the same key first: keep theirs
                    return stored
                self._move_aside(final)  # an incomplete leftover that get() refused
            raise XaiReportError(f"{final}: could not store the artifact after {RENAME_TRIES} tries; run the build again")
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _move_aside(self, folder: Path) -> None:
        """Rename ``folder`` into ``tmp/`` (one atomic step, so no writer ever sees it half deleted), then delete it."""
        aside = Path(tempfile.mkdtemp(prefix="old.", dir=self.tmp))
        try:
            os.rename(folder, aside / "old")
        except FileNotFoundError:
            pass  # another writer moved it first
        shutil.rmtree(aside, ignore_errors=True)

    def clean_tmp(self) -> None:
        """Remove staging folders left by a killed build (called under the lock)."""
        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's build lock; a second build stops at once with a clear message."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "build.lock"
        fh = open(path, "a+")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise XaiReportError(
                    f"{self.root}: another build of this study is running ({holder}); wait for it to finish"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            self.clean_tmp()
            yield
        finally:
            fh.close()
