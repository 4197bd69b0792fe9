"""What produced an artifact: a fingerprint of our code and the versions of the libraries it calls.

Every cache key carries both (see :meth:`xai_report.stage.Stage.key`), so editing a method's module, or
upgrading ``grad-cam``, ``lime``, ``torch`` or ``open_clip``, gives new keys and the next build recomputes
exactly what depends on the change; everything else is reused.

A module's fingerprint is the SHA-256 of its source file's bytes (comments included: a file is cheap to
hash and a comment-only edit costs one recomputation, never a stale result). A library's version is what
its installed distribution says (``importlib.metadata``), or ``"not installed"``.
"""

from __future__ import annotations

import hashlib
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Iterable, Union

Code = Union[ModuleType, str]
"""A module, or its dotted name (``"xai_report.attribution.rise"``)."""

BASE_LIBRARIES = ("torch", "torchvision", "numpy")
"""Libraries every computation here runs on: part of every key."""


@lru_cache(maxsize=None)
def _file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_fingerprint(module: Code) -> str:
    """SHA-256 of the module's source file (imported by name if a string is given)."""
    if isinstance(module, str):
        __import__(module)
        module = sys.modules[module]
    file = getattr(module, "__file__", None)
    if not file:
        raise ValueError(f"module {module.__name__} has no source file to fingerprint")
    return _file_sha256(str(Path(file).resolve()))


def code_fingerprint(modules: Iterable[Code]) -> dict[str, str]:
    """``{module name: sha256 of its source}`` for each module, sorted by name (a stable key part)."""
    found = {}
    for module in modules:
        name = module if isinstance(module, str) else module.__name__
        found[name] = module_fingerprint(module)
    return dict(sorted(found.items()))


@lru_cache(maxsize=None)
def library_version(distribution: str) -> str:
    """The installed version of a distribution (``"grad-cam"``, ``"open_clip_torch"``), or ``"not installed"``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def library_versions(distributions: Iterable[str]) -> dict[str, str]:
    """``{distribution: version}`` for the base libraries and ``distributions``, sorted by name."""
    names = set(BASE_LIBRARIES) | set(distributions)
    return {name: library_version(name) for name in sorted(names)}
