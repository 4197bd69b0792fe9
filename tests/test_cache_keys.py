"""Cache keys notice change: editing one method's module, or a library's version, recomputes exactly the
artifacts that depend on it, and reuses the rest.

The code test edits a temporary copy of the package (never the checkout) and builds with it in fresh
processes, as a user who edits the code and runs ``xai-report build`` again would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xai_report import fingerprint
from xai_report.attribution.stage import AttributionStage
from xai_report.config import load_study
from xai_report.paths import REPO_ROOT
from xai_report.store import ArtifactStore

from conftest import tiny_loaded_model, write_study

TESTS = Path(__file__).resolve().parent
METHOD_NAMES = ("gradcam", "scorecam", "lime")
BUILD = """
import json, sys
sys.path[:0] = [{generator!r}, {tests!r}]
import xai_report
assert xai_report.__file__.startswith({generator!r}), xai_report.__file__
from conftest import tiny_loaded_model
from xai_report.attribution.stage import AttributionStage
from xai_report.config import load_study
from xai_report.store import ArtifactStore
study = load_study({study!r})
stage = AttributionStage(study, ArtifactStore(study.output_path / "store"), model=tiny_loaded_model(0))
section = stage.run()
print(json.dumps({{"computed": stage.stats.computed, "reused": stage.stats.reused}}))
"""


def package_copy(root: Path) -> Path:
    """A copy of the package at ``root/generator`` beside the real data/ and templates/ (linked)."""
    shutil.copytree(REPO_ROOT / "generator" / "xai_report", root / "generator" / "xai_report",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("data", "templates", "studies"):
        (root / name).symlink_to(REPO_ROOT / name)
    return root / "generator"


def build_with(generator: Path, study: Path) -> dict:
    script = BUILD.format(generator=str(generator), tests=str(TESTS), study=str(study))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def method_keys(out: Path) -> dict[str, set[str]]:
    """Store keys of each method's maps, read back from the exported results (a map's key is in its meta)."""
    found: dict[str, set[str]] = {}
    for meta_file in (out / "store" / "objects").glob("*/*/meta.json"):
        meta = json.loads(meta_file.read_text())
        if meta.get("method"):
            found.setdefault(meta["method"], set()).add(meta["_key"])
    return found


def test_editing_one_method_module_recomputes_exactly_that_method(tmp_path, image_folder):
    (tmp_path / "study").mkdir()
    study = write_study(tmp_path / "study", image_folder, methods=METHOD_NAMES, layer="features")
    generator = package_copy(tmp_path / "repo")
    first = build_with(generator, study)
    # predictions, maps, unit maps, the default registry metric (sparseness) on each map
    assert first == {"computed": 2 * (1 + 2 * len(METHOD_NAMES) + 1), "reused": 0}
    before = method_keys(tmp_path / "study" / "out")
    assert sorted(before) == sorted(METHOD_NAMES) and all(len(keys) == 2 for keys in before.values())

    score_cam = generator / "xai_report" / "attribution" / "methods" / "score_cam.py"
    score_cam.write_text(score_cam.read_text() + "\n# an edit: any change to the source is a new fingerprint\n")
    second = build_with(generator, study)
    # Score-CAM's two maps and their two scores only
    assert second == {"computed": 4, "reused": 2 * (len(METHOD_NAMES) + 1) + 2 * (len(METHOD_NAMES) - 1)}, second
    after = method_keys(tmp_path / "study" / "out")
    assert after["gradcam"] == before["gradcam"] and after["lime"] == before["lime"]
    assert len(after["scorecam"] - before["scorecam"]) == 2

    assert build_with(generator, study) == {"computed": 0, "reused": 2 * (1 + 2 * len(METHOD_NAMES) + 1)}


def run_stage(study_file: Path) -> tuple[dict, AttributionStage]:
    study = load_study(study_file)
    stage = AttributionStage(study, ArtifactStore(study.output_path / "store"), model=tiny_loaded_model(0))
    return stage.run(), stage


# grad-cam draws every overlay (attribution/overlays.py imports it), so LIME's artifacts depend on it too; lime and
# grad-cam both require scikit-learn (their Requires-Dist), so an upgrade of it reaches every method.
@pytest.mark.parametrize("library, recomputed", [("lime", {"lime"}), ("scikit-learn", {"gradcam", "scorecam", "lime"}),
                                                 ("grad-cam", {"gradcam", "scorecam", "lime"})])
def test_a_changed_library_version_recomputes_what_calls_it(tmp_path, image_folder, monkeypatch, library, recomputed):
    study = write_study(tmp_path, image_folder, methods=METHOD_NAMES, layer="features")
    first, stage = run_stage(study)
    assert stage.stats.computed == 2 * (1 + 2 * len(METHOD_NAMES) + 1)  # as above: with sparseness per map
    before = method_keys(tmp_path / "out")

    real = fingerprint.library_version
    monkeypatch.setattr(fingerprint, "library_version",
                        lambda name: "99.0-test" if name == library else real(name))
    fingerprint.clear_caches()
    second, stage = run_stage(study)
    # the recomputed maps and their scores (a score's key holds its map's)
    assert stage.stats.computed == 2 * len(recomputed) * 2, (library, stage.stats)
    after = method_keys(tmp_path / "out")
    for name in METHOD_NAMES:
        changed = after[name] != before[name]
        assert changed == (name in recomputed), (library, name)
    assert second == first  # same numbers: only the keys moved
