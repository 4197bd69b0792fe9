"""Interrupted and concurrent builds: a killed build resumes to the same bytes, a second build is refused.

A small real study (the packaged EfficientNet-Lite0, two study images, Grad-CAM, Ablation-CAM, Score-CAM and
LIME with few samples, and the faithfulness and agreement metrics) runs as ``python -m xai_report.cli build`` in
a subprocess, which is killed (SIGINT, SIGKILL) in the middle of the stage, once the first image has its maps. The
next build, in a fresh process, must finish, and its ``results.json`` and raw maps must be byte-identical to
those of a clean build run in another process and folder: an artifact must come out bit for bit the same
whatever the process computed before it (its frozen model copy, thread pool and caches).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from xai_report.attribution.contributions import SHOWN_UNITS
from xai_report.cli import main
from xai_report.store import ArtifactStore

from conftest import STUDY_IMAGES, write_study

pytestmark = pytest.mark.real_model

IMAGES = ("n01443537_goldfish.JPEG", "n07747607_orange.JPEG")
METHODS = ("gradcam", "ablationcam", "scorecam", "lime")
PER_IMAGE = 1 + 2 * len(METHODS) + 1 + 1 + 1  # predictions, a map and a registry score (sparseness) per method,
# unit maps, map measures, metrics
ARTIFACTS = len(IMAGES) * PER_IMAGE


def make_study(root: Path) -> Path:
    root.mkdir(parents=True)
    images = root / "images"
    images.mkdir()
    for name in IMAGES:
        shutil.copy(STUDY_IMAGES / name, images / name)
    study = write_study(root, images, methods=METHODS, metrics=True, extra="deletion_steps = 5")
    text = study.read_text().replace("num_samples = 60", "num_samples = 10").replace("batch_size = 30", "batch_size = 10")
    study.write_text(text)
    return study


def start_build(study: Path) -> subprocess.Popen:
    """The build as a shell starts it: with Ctrl-C's default action (a process inherits an ignored SIGINT, and
    Python then never raises KeyboardInterrupt; whatever the test process ran before must not decide that)."""
    return subprocess.Popen([sys.executable, "-m", "xai_report.cli", "build", "--study", str(study)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finished_artifacts(out: Path) -> list[Path]:
    return list((out / "store" / "objects").glob("*/*/meta.json"))


def wait_for_artifacts(proc: subprocess.Popen, out: Path, count: int = 1, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while len(finished_artifacts(out)) < count:
        if proc.poll() is not None:
            raise AssertionError(f"the build ended (rc {proc.returncode}) before any artifact: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no artifact appeared in time")
        time.sleep(0.02)


def build_in_process(study: Path):
    result = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def raw_outputs(root: Path) -> dict[str, bytes]:
    """results.json and every raw map, by name."""
    out = root / "out"
    files = {"results.json": (out / "results.json").read_bytes()}
    for folder in ("maps", "overlays"):
        for path in sorted((out / folder).iterdir()):
            files[f"{folder}/{path.name}"] = path.read_bytes()
    return files


def assert_same_outputs(got: dict[str, bytes], want: dict[str, bytes]) -> None:
    assert sorted(got) == sorted(want)
    different = [name for name in want if got[name] != want[name]]
    assert not different, f"not byte-identical to the clean build: {different}"


def assert_store_complete(root: Path) -> None:
    store = ArtifactStore(root / "out" / "store")
    metas = finished_artifacts(root / "out")
    assert len(metas) == ARTIFACTS
    for meta in metas:
        assert store.get(meta.parent.name) is not None, f"incomplete artifact {meta.parent.name}"
    leftovers = list(store.tmp.iterdir()) if store.tmp.exists() else []
    assert leftovers == [], f"staging leftovers in the store: {leftovers}"


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, bytes]:
    """A clean, uninterrupted build in a process of its own, the reference for every other build."""
    root = tmp_path_factory.mktemp("clean")
    study = make_study(root / "study")
    proc = start_build(study)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert f"computed {ARTIFACTS} artifacts, reused 0" in stdout
    outputs = raw_outputs(root / "study")
    # results.json; per image a map per method, LIME's segments, an overlay per method, the photo and the activation
    # map of each unit listed behind the prediction
    assert len(outputs) == 1 + len(IMAGES) * (2 * len(METHODS) + 2 + SHOWN_UNITS)
    results = json.loads(outputs["results.json"])
    assert [r["file"] for r in results["attribution"]["images"]] == list(IMAGES)
    return outputs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_build_resumes_to_identical_bytes(tmp_path, clean, sig):
    study = make_study(tmp_path / "study")
    out = tmp_path / "study" / "out"
    proc = start_build(study)
    # Killed when the first image has its maps but not yet its metrics: the resumed process then scores the
    # metrics first, before any CAM, so its frozen model copy is made in another state than the clean build's.
    wait_for_artifacts(proc, out, count=PER_IMAGE - 1)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, (stdout, stderr)
        assert "interrupted: finished artifacts are kept" in stderr and "Traceback" not in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    done = len(finished_artifacts(out))
    assert 1 <= done < ARTIFACTS, f"the build was not killed in the middle ({done} of {ARTIFACTS} artifacts)"

    output = build_in_process(study)
    summary = next(line for line in output.splitlines() if line.startswith("build: "))
    computed = int(summary.split("computed ")[1].split(" ")[0])
    reused = int(summary.split("reused ")[1].split(",")[0])
    assert reused >= done >= 1 and computed + reused == ARTIFACTS, summary  # resumed, not restarted
    assert_store_complete(tmp_path / "study")
    assert_same_outputs(raw_outputs(tmp_path / "study"), clean)
    assert f"nothing to compute: reused {ARTIFACTS} cached artifacts" in build_in_process(study)
    assert_same_outputs(raw_outputs(tmp_path / "study"), clean)


def test_second_build_stops_clearly_and_clean_builds_are_byte_identical(tmp_path, clean):
    """Two builds at once: the second stops with one line and exit 2; the first, a clean build in another
    process, finishes a sound store with the same bytes as the clean build in this process. A rebuild then
    computes nothing and changes nothing."""
    study = make_study(tmp_path / "study")
    out = tmp_path / "study" / "out"
    first = start_build(study)
    wait_for_artifacts(first, out)  # the first build holds the lock and is computing
    second = CliRunner().invoke(main, ["build", "--study", str(study)])
    still_running = first.poll() is None
    stdout, stderr = first.communicate(timeout=120)
    assert still_running, "the first build ended before the second started; the test proved nothing"
    assert second.exit_code == 2, second.output
    lines = second.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "another build of this study is running" in lines[0]
    assert f"pid {first.pid}" in lines[0]
    assert first.returncode == 0, stderr
    assert f"computed {ARTIFACTS} artifacts, reused 0" in stdout
    assert_store_complete(tmp_path / "study")
    assert_same_outputs(raw_outputs(tmp_path / "study"), clean)
    assert f"nothing to compute: reused {ARTIFACTS} cached artifacts" in build_in_process(study)
    assert_same_outputs(raw_outputs(tmp_path / "study"), clean)
