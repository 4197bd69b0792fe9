"""The package's shape, checked from its source: small modules and classes, and imports that point one way.

Arrows point down only (:data:`LAYERS`): cli -> pipeline -> (attribution | dissect | render) -> (stage base,
results) -> config -> (models, data, store, cache, activations, ...). The stages and render sit side by side: render
never imports a stage or the pipeline, no stage imports render, and attribution and dissect never import each other
(what both need, the activation hooks, lives below them). No ``TYPE_CHECKING`` imports (they hide cycles) and no
import cycle inside a layer's group.
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


LAYERS: list[list[tuple[str, ...]]] = [
    [("xai_report.version", "xai_report.errors", "xai_report.paths", "xai_report.text", "xai_report.fingerprint",
      "xai_report.store", "xai_report.data", "xai_report.models", "xai_report.cache", "xai_report.activations",
      "xai_report.progress", "xai_report.memory", "xai_report.numbers", "xai_report.records", "xai_report.labels",
      "xai_report.init", "xai_report.cluster", "xai_report.tasks", "xai_report.extras")],
    [("xai_report.config",)],
    [("xai_report.results",), ("xai_report.stage",)],
    [("xai_report.attribution",), ("xai_report.dissect",), (RENDER,)],
    [("xai_report.pipeline",)],
    [("xai_report", "xai_report.cli", "xai_report.__main__", "xai_report.api")],
]
"""Layers from the bottom, each of groups of packages and modules. A module imports modules of its own group or of
a lower layer only: never a higher layer, nor another group of its own layer."""


def group_of(module: str) -> tuple[int, tuple[str, ...]] | None:
    """(layer, group) of ``module``: the group naming its longest prefix (the package root only by exact name)."""
    best, found = -1, None
    for rank, groups in enumerate(LAYERS):
        for group in groups:
            for prefix in group:
                hit = module == prefix or (prefix != "xai_report" and module.startswith(prefix + "."))
                if hit and len(prefix) > best:
                    best, found = len(prefix), (rank, group)
    return found


def _upward(name: str) -> list[str]:
    own = group_of(name)
    return sorted(m for m in imported(name, modules()[name]) if m in modules() and group_of(m) is not None
                  and (group_of(m)[0] > own[0] or (group_of(m)[0] == own[0] and group_of(m)[1] != own[1])))


def test_layers_place_every_module():
    assert not [n for n in modules() if group_of(n) is None], "add the module to a layer of LAYERS"


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_point_down_the_layers(name):
    bad = _upward(name)
    assert not bad, f"{name} (layer {group_of(name)[0]}) imports {bad}: a higher layer or a sibling group of LAYERS"


def test_layer_rules_catch_what_they_are_for():
    assert group_of("xai_report") != group_of("xai_report.pipeline")
    attribution, dissect, render = (group_of(f"xai_report.{p}.x") for p in ("attribution", "dissect", "render"))
    assert attribution[0] == dissect[0] == render[0] and len({attribution[1], dissect[1], render[1]}) == 3
    assert group_of("xai_report.models.layers")[0] < group_of("xai_report.config.schema")[0] < attribution[0]
    assert group_of("xai_report.activations")[0] < attribution[0]


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_type_checking_imports(name):
    tree = ast.parse(modules()[name].read_text())
    found = [n for n in ast.walk(tree) if (isinstance(n, ast.Name) and n.id == "TYPE_CHECKING")
             or (isinstance(n, ast.Attribute) and n.attr == "TYPE_CHECKING")
             or (isinstance(n, ast.alias) and n.name == "TYPE_CHECKING")]
    assert not found, f"{name} uses TYPE_CHECKING: pass what the code needs instead of importing the module above it"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_inside_a_group():
    """Across groups the layers forbid cycles; inside one (a package) any import, function-level too, counts."""
    graph = {n: {m for m in imported(n, p) if m in modules() and m != n and group_of(m) == group_of(n)}
             for n, p in modules().items()}
    assert not cycles(graph)


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
