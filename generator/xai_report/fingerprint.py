"""What produced an artifact, derived from the code that computes it: no hand-kept list of modules.

Every cache key carries a code fingerprint (see :meth:`xai_report.stage.Stage.key`). A key names the code that
computes its artifact (the compute function, the class that runs, or their module); the fingerprint is then

* the **import closure** of those modules within our package: the modules they import, the modules those import,
  and so on (imports read from the source with :mod:`ast`, imports inside functions included), each with the
  SHA-256 of its source file (comments included: a comment-only edit costs one recomputation, never a stale
  result); and
* the versions of the **third-party distributions** that closure imports, with everything those distributions
  require in turn (``Requires-Dist``, extras left out): upgrading ``lime`` or the ``scikit-learn`` it fits its
  surrogate with gives new keys.

A package's ``__init__`` is part of the closure when a module imports the package itself (``from .. import
models``, ``from ..models import X``), not merely because it sits above an imported module: by the rule that
``tests/test_fingerprint.py`` checks, our ``__init__`` files only re-export, so they cannot change a result.

So editing ``attribution/score_cam.py`` gives new keys to Score-CAM's maps and to what reads them, and editing a
template, a render module or the CLI gives no artifact a new key: none of them is imported by compute code
(``tests/test_architecture.py`` keeps it that way).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Union

PACKAGE = __name__.rpartition(".")[0]
"""Our top-level package (``xai_report``): its modules are fingerprinted by source, everything else by version."""
PACKAGE_DIR = Path(__file__).resolve().parent

Code = Union[ModuleType, type, Any, str]
"""What computes an artifact: a module, a class or a function (its module is taken), or a dotted module name."""

BASE_LIBRARIES = ("torch", "torchvision", "numpy")
"""Distributions every computation here runs on: part of every key."""


# -- our modules: source files and the import closure ----------------------------------------------


def module_file(name: str) -> Path | None:
    """The source file of our module ``name`` (``xai_report.a.b`` -> ``a/b.py`` or ``a/b/__init__.py``), or None
    when it is not one of ours or does not exist."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(name: str, file: Path) -> str:
    """The package a module's relative imports are relative to."""
    return name if file.name == "__init__.py" else name.rpartition(".")[0]


def _imported_names(name: str, file: Path) -> list[str]:
    """Every module name the source of ``name`` imports (absolute, relative resolved; ``from p import x`` gives
    ``p.x`` too, which counts when ``x`` is a module)."""
    tree = ast.parse(file.read_bytes(), filename=str(file))
    package = _package_of(name, file)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            if origin == "__future__":
                continue
            submodules = [f"{origin}.{alias.name}" for alias in node.names if alias.name != "*"]
            found.extend(submodules)
            # ``from pkg import module`` runs pkg's __init__ but uses only the module; any other name (or ``*``)
            # comes from pkg itself.
            if origin.split(".")[0] != PACKAGE or not all(module_file(m) for m in submodules) or not submodules:
                found.append(origin)
    return found


@lru_cache(maxsize=None)
def _direct_imports(name: str) -> tuple[frozenset[str], frozenset[str]]:
    """(our modules, third-party top-level names) that module ``name`` imports directly."""
    file = module_file(name)
    ours: set[str] = set()
    others: set[str] = set()
    for imported in _imported_names(name, file):
        if module_file(imported) is not None:
            ours.add(imported)
        elif imported.split(".")[0] != PACKAGE:
            top = imported.split(".")[0]
            if top and top not in sys.stdlib_module_names:
                others.add(top)
    return frozenset(ours), frozenset(others)


@lru_cache(maxsize=None)
def _closure(roots: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    seen: set[str] = set()
    third: set[str] = set()
    todo = [r for r in roots if module_file(r) is not None]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        ours, others = _direct_imports(name)
        third |= others
        todo.extend(ours - seen)
    return tuple(sorted(seen)), tuple(sorted(third))


def module_name(code: Code) -> str:
    """The dotted name of the module that holds ``code``."""
    if isinstance(code, str):
        return code
    if isinstance(code, ModuleType):
        return code.__name__
    found = getattr(code, "__module__", None) or inspect.getmodule(code)
    if isinstance(found, ModuleType):
        return found.__name__
    if not isinstance(found, str):
        raise ValueError(f"cannot tell which module {code!r} comes from")
    return found


def code_closure(code: Iterable[Code]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(our modules, third-party import names) reachable by imports from the modules of ``code``.

    Code from a third-party module (a ``grad-cam`` class) contributes its top-level package to the second part.
    """
    names = [module_name(c) for c in code]
    ours_roots = tuple(sorted({n for n in names if module_file(n) is not None}))
    ours, third = _closure(ours_roots)
    extra = {n.split(".")[0] for n in names if module_file(n) is None and n.split(".")[0] != PACKAGE}
    return ours, tuple(sorted(set(third) | extra))


@lru_cache(maxsize=None)
def _file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_fingerprint(name: str) -> str:
    """SHA-256 of our module's source file."""
    file = module_file(name)
    if file is None:
        raise ValueError(f"{name} is not a module of {PACKAGE}")
    return _file_sha256(str(file))


# -- third-party distributions --------------------------------------------------------------------


@lru_cache(maxsize=1)
def _distributions_of_imports() -> dict[str, tuple[str, ...]]:
    return {name: tuple(sorted(set(dists))) for name, dists in metadata.packages_distributions().items()}


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


@lru_cache(maxsize=None)
def _installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def library_version(distribution: str) -> str:
    """The installed version of a distribution (``"grad-cam"``, ``"open_clip_torch"``), or ``"not installed"``."""
    return _installed_version(distribution)


@lru_cache(maxsize=None)
def _requirements(distribution: str) -> tuple[str, ...]:
    """The distributions ``distribution`` requires (no extras; markers evaluated for this interpreter)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging ships with pip and setuptools
        return ()
    try:
        lines = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return ()
    found = []
    for line in lines:
        try:
            req = Requirement(line)
        except Exception:  # an unparsable line names nothing we could version
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        found.append(_canonical(req.name))
    return tuple(sorted(set(found)))


def _with_requirements(distributions: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = [_canonical(d) for d in distributions]
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        todo.extend(r for r in _requirements(dist) if r not in seen)
    return seen


@lru_cache(maxsize=None)
def _library_versions(import_names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    owners = _distributions_of_imports()
    direct = set(BASE_LIBRARIES)
    for name in import_names:
        direct.update(owners.get(name, ()))
    return tuple((d, library_version(d)) for d in sorted(_with_requirements(direct)))


def library_versions(import_names: Iterable[str] = ()) -> dict[str, str]:
    """``{distribution: version}`` of the base libraries, the distributions that provide ``import_names`` and,
    recursively, what they require; sorted by name."""
    return dict(_library_versions(tuple(sorted(set(import_names)))))


# -- the fingerprint ------------------------------------------------------------------------------


def code_fingerprint(code: Code | Iterable[Code]) -> dict[str, dict[str, str]]:
    """``{"modules": {our module: sha256 of its source}, "libraries": {distribution: version}}`` of the code that
    computes an artifact (see the module docstring); a stable key part."""
    items = [code] if isinstance(code, (str, ModuleType, type)) or callable(code) else list(code)
    ours, third = code_closure(items)
    return {"modules": {name: module_fingerprint(name) for name in ours}, "libraries": library_versions(third)}


def clear_caches() -> None:
    """Forget file hashes, closures and versions (tests that edit source files or fake an upgrade in one process)."""
    for cached in (_file_sha256, _direct_imports, _closure, _library_versions, _installed_version):
        cached.cache_clear()
