"""Cache keys come from the code that runs: the import closure of the compute code, read from the source.

* the closure follows imports (relative, absolute, inside functions) and leaves out what compute code never imports
  (render, the CLI, templates);
* package ``__init__`` files only re-export, so leaving implicit parents out of a closure cannot hide code;
* every module that actually runs while an artifact is computed is in that artifact's closure (traced in a build);
* for every artifact kind of a build, editing any module of its closure (in a temporary copy of the package) gives
  that kind new keys, and editing a template, a render module or the CLI gives no artifact a new key;
* a real rebuild after editing ``attribution/metrics/map_measures.py`` recomputes the map measures and reuses the rest.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from xai_report import cache as cache_module
from xai_report import fingerprint
from xai_report.attribution.stage import AttributionStage
from xai_report.config import load_study
from xai_report.paths import DATA_DIR, REPO_ROOT
from xai_report.store import ArtifactStore, content_key

from conftest import tiny_loaded_model, write_study

BOXES = DATA_DIR / "annotations" / "study_image_boxes.csv"
PACKAGE_DIR = fingerprint.PACKAGE_DIR


def _modules() -> list[str]:
    names = []
    for file in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = file.relative_to(PACKAGE_DIR).with_suffix("").parts
        names.append(".".join(("xai_report", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("xai_report", *parts)))
    return names


def test_closure_follows_imports_and_leaves_out_render_and_cli():
    ours, third = fingerprint.code_closure(["xai_report.attribution.methods.score_cam"])
    assert {"xai_report.attribution.methods.score_cam", "xai_report.attribution.methods.cam_support",
            "xai_report.attribution.inference"} <= set(ours)
    assert "pytorch_grad_cam" in third and "torch" in third
    lime, _ = fingerprint.code_closure(["xai_report.attribution.methods.lime_explainer"])
    assert "xai_report.attribution.methods.score_cam" not in lime and "xai_report.attribution.methods.registry" not in lime
    for name in _modules():
        if name.startswith(("xai_report.attribution", "xai_report.dissect", "xai_report.models", "xai_report.data")):
            closure, _ = fingerprint.code_closure([name])
            leaked = [m for m in closure if m.startswith(("xai_report.render", "xai_report.cli", "xai_report.pipeline"))]
            assert not leaked, (name, leaked)


def test_a_function_class_or_module_names_its_module():
    from xai_report.attribution.methods import explainer
    from pytorch_grad_cam import GradCAM

    assert fingerprint.module_name(explainer.explained) == "xai_report.attribution.methods.explainer"
    assert fingerprint.module_name(explainer.Explanation) == "xai_report.attribution.methods.explainer"
    assert fingerprint.module_name(explainer) == "xai_report.attribution.methods.explainer"
    found = fingerprint.code_fingerprint((explainer.explained, GradCAM))
    assert "grad-cam" in found["libraries"] and "scikit-learn" in found["libraries"]  # what grad-cam requires
    assert "xai_report.attribution.methods.explainer" in found["modules"]


def test_package_inits_have_no_import_time_effects():
    """A package's ``__init__`` runs when any of its modules is imported, but a closure keeps it only when the
    package itself is imported from. That is sound while an ``__init__`` only imports, names and defines things:
    no statement of its top level calls anything (definitions run only when called, through an import of them)."""
    for init in PACKAGE_DIR.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                continue
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
            assert not calls, f"{init.relative_to(PACKAGE_DIR)}:{node.lineno} calls something at import time"


# -- a build that records what it keys --------------------------------------------------------------


class Recorder:
    """Wraps the store cache's key and cached (what every stage and helper goes through): per key, its kind, code and parts; per computed key, the modules of ours whose
    code ran inside ``compute()``."""

    def __init__(self):
        self.keys: dict[str, tuple[str, object, dict]] = {}
        self.ran: dict[str, set[str]] = {}

    def install(self, monkeypatch):
        real_key, real_cached = cache_module.StoreCache.key, cache_module.StoreCache.cached
        recorder = self

        def key(self, kind, *, code, **parts):
            found = real_key(self, kind, code=code, **parts)
            recorder.keys[found] = (kind, code, parts)
            return found

        def cached(self, key, compute):
            ran: set[str] = set()

            def profile(frame, event, _arg):
                # a lambda only forwards to the compute function (whose own frame is traced)
                if event == "call" and frame.f_code.co_name != "<lambda>":
                    file = frame.f_code.co_filename
                    if file.startswith(str(PACKAGE_DIR)):
                        ran.add(file)

            def traced():
                previous = sys.getprofile()
                sys.setprofile(profile)
                try:
                    return compute()
                finally:
                    sys.setprofile(previous)

            art = real_cached(self, key, traced)
            if ran:
                recorder.ran[key] = ran
            return art

        monkeypatch.setattr(cache_module.StoreCache, "key", key)
        monkeypatch.setattr(cache_module.StoreCache, "cached", cached)


def _file_module(file: str) -> str:
    parts = Path(file).resolve().relative_to(PACKAGE_DIR).with_suffix("").parts
    return ".".join(("xai_report", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _attribution_build(tmp_path, image_folder) -> None:
    study_file = write_study(tmp_path, image_folder, methods=("gradcam", "scorecam", "lime", "rise", "integratedgradients",
                                                            "smoothgrad", "expectedgradients", "guidedgradcam",
                                                            "deeplift", "occlusion", "kernelshap"),
                             layer="features", metrics=True, randomised=True,
                             extra=f'boxes = "{BOXES.as_posix()}"\ndeletion_steps = 4\nstability_methods = ["lime"]\n'
                                   'stability_seeds = 1')
    study_file.write_text(study_file.read_text() + "\n[attribution.rise]\nmasks = 20\n"
                          "[attribution.integratedgradients]\nsteps = 4\n[attribution.smoothgrad]\nsamples = 2\n"
                          "[attribution.expectedgradients]\nsamples = 2\nprobe_images = 2\n"
                          "[attribution.occlusion]\nwindow = 16\nstride = 16\n[attribution.kernelshap]\nsamples = 8\n")
    study = load_study(study_file)
    AttributionStage(study, ArtifactStore(study.output_path / "store"), model=tiny_loaded_model()).run()


def _dissection_build(tmp_path, _image_folder) -> None:
    """The labels-source dissection of tests/test_dissect_labels.py (a planted model, solid-colour probe photos)."""
    from xai_report.dissect.stage import DissectionStage
    from test_dissect_labels import planted_probe_study, planted_model

    study = load_study(planted_probe_study(tmp_path))
    DissectionStage(study, ArtifactStore(study.output_path / "store"), models={"planted": planted_model()}).run()


@pytest.fixture(params=["attribution", "dissection"])
def recorded_build(request, tmp_path, image_folder, monkeypatch):
    recorder = Recorder()
    recorder.install(monkeypatch)
    {"attribution": _attribution_build, "dissection": _dissection_build}[request.param](tmp_path, image_folder)
    recorder.stage = request.param
    return recorder


def test_every_module_that_runs_is_in_the_key(recorded_build):
    kinds = set()
    for key, ran in recorded_build.ran.items():
        kind, code, _parts = recorded_build.keys[key]
        kinds.add(kind)
        closure, _ = fingerprint.code_closure(code if isinstance(code, (tuple, list)) else [code])
        missing = {_file_module(f) for f in ran} - set(closure)
        # the cache's own bookkeeping (timing, storing) runs around every compute and makes no number
        missing -= {"xai_report.cache", "xai_report.store"}
        assert not missing, (kind, sorted(missing))
    expected = {"attribution": {"predictions", "attribution", "metrics", "map_measures", "seed_stability", "unit_maps"},
                # labels and probe features are computed in batches (lookup/save, not traced here); the next test
                # checks their keys like every other
                "dissection": {"dissect_split_half"}}[recorded_build.stage]
    assert expected <= kinds


def test_editing_any_module_of_a_closure_rekeys_that_kind_only(recorded_build, tmp_path, monkeypatch):
    """In a temporary copy of the package: each module of any kind's closure edited in turn gives exactly the
    kinds whose closure holds it new keys (every key of those kinds), and a template, a render module or the CLI
    gives none."""
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE_DIR, copy / "xai_report", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGE_DIR", copy / "xai_report")
    records = recorded_build.keys
    closure_of = {key: set(fingerprint.code_closure(code if isinstance(code, (tuple, list)) else [code])[0])
                  for key, (_kind, code, _parts) in records.items()}

    def rekeyed() -> dict[str, int]:
        fingerprint.clear_caches()
        changed: dict[str, int] = defaultdict(int)
        for old, (kind, code, parts) in records.items():
            if content_key(kind=kind, code=fingerprint.code_fingerprint(code), **parts) != old:
                changed[kind] += 1
        return dict(changed)

    assert rekeyed() == {}  # the copy is the same code
    assert all("xai_report.attribution.metrics.map_measures" in closure_of[k] for k, r in records.items() if r[0] == "map_measures")
    for module in sorted(set().union(*closure_of.values())):
        file = fingerprint.module_file(module)
        original = file.read_bytes()
        file.write_bytes(original + b"\n# edited\n")
        try:
            expected: dict[str, int] = defaultdict(int)
            for key, (kind, _code, _parts) in records.items():
                if module in closure_of[key]:
                    expected[kind] += 1
            assert rekeyed() == dict(expected), module
        finally:
            file.write_bytes(original)
    for edited in [copy / "xai_report" / "render" / "site.py", copy / "xai_report" / "cli.py"]:
        edited.write_bytes(edited.read_bytes() + b"\n# edited\n")
    assert rekeyed() == {}
    templates = REPO_ROOT / "templates"
    assert not any(str(templates) in str(fingerprint.module_file(m)) for mods in closure_of.values() for m in mods)


def test_editing_map_measures_recomputes_the_map_measures(tmp_path, image_folder, monkeypatch):
    """A real rebuild: the edited module's artifacts are computed again, everything else is reused."""
    study_file = write_study(tmp_path, image_folder, methods=("gradcam",), layer="features", metrics=True,
                             extra=f'boxes = "{BOXES.as_posix()}"\ndeletion_steps = 4')
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE_DIR, copy / "xai_report", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGE_DIR", copy / "xai_report")
    fingerprint.clear_caches()
    kinds: list[str] = []

    def build():
        kinds.clear()
        study = load_study(study_file)
        store = ArtifactStore(study.output_path / "store")
        put = store.put
        store.put = lambda key, meta, files=None: (kinds.append(meta.get("kind") or "attribution"), put(key, meta, files))[1]
        stage = AttributionStage(study, store, model=tiny_loaded_model())
        return stage.run(), stage.stats

    first, stats = build()
    assert stats.computed > 0
    measures = copy / "xai_report" / "attribution" / "metrics" / "map_measures.py"
    measures.write_text(measures.read_text() + "\n# an edit\n")
    fingerprint.clear_caches()
    second, stats = build()
    assert sorted(kinds) == ["map_measures", "map_measures"] and second == first
    (copy / "xai_report" / "render" / "markdown.py").write_text("# edited\n")
    fingerprint.clear_caches()
    _third, stats = build()
    assert stats.computed == 0
