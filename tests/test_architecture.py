"""The package's shape, checked from its source: small modules and classes, and imports that point one way.

Arrows point down only: cli -> pipeline -> stages -> (models, data, store, results); render -> results.
Render never imports a stage or the pipeline, and no stage imports render.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "generator" / "xai_report"
MAX_MODULE_LINES = 350
MAX_CLASS_LINES = 200
STAGE_PACKAGES = ("xai_report.attribution", "xai_report.dissect")
RENDER = "xai_report.render"


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, anywhere in the file (function-level imports included), absolute."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import plots`
    return out


def _within(module: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(module == p or module.startswith(p + ".") for p in packages)


def is_stage_module(module: str) -> bool:
    return _within(module, STAGE_PACKAGES) or module in ("xai_report.stage", "xai_report.pipeline")


def test_imports_parse_relative_and_function_level(tmp_path):
    pkg = tmp_path / "xai_report" / "render"
    pkg.mkdir(parents=True)
    src = pkg / "site.py"
    src.write_text("from ..pipeline import run\nfrom . import plots\ndef f():\n    from ..attribution.stage import X\n")
    found = imported("xai_report.render.site", src)
    assert {"xai_report.pipeline", "xai_report.render.plots", "xai_report.attribution.stage"} <= found


@pytest.mark.parametrize("name", [n for n in modules() if _within(n, RENDER)])
def test_render_imports_no_stage_and_no_pipeline(name):
    bad = sorted(m for m in imported(name, modules()[name]) if is_stage_module(m))
    assert not bad, f"{name} imports {bad}: render reads results.json, it never calls a stage"


@pytest.mark.parametrize("name", [n for n in modules() if is_stage_module(n)])
def test_stages_import_no_render(name):
    bad = sorted(m for m in imported(name, modules()[name]) if _within(m, RENDER))
    assert not bad, f"{name} imports {bad}: stages emit numbers, render makes the sentences"


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_and_class_sizes(name):
    path = modules()[name]
    source = path.read_text()
    lines = source.count("\n") + (not source.endswith("\n"))
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines (at most {MAX_MODULE_LINES}); split it by job"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            size = node.end_lineno - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"{path.name}: class {node.name} has {size} lines (at most {MAX_CLASS_LINES})"
