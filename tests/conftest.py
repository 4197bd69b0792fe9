"""Shared fixtures: tiny models for mechanics, the packaged EfficientNet-Lite0 for meaning."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from xai_report.models import LoadedModel, Preprocess
from xai_report.paths import DATA_DIR, REPO_ROOT

STUDY_IMAGES = DATA_DIR / "images"
SHARED_DATA = Path(os.environ.get("XAI_REPORT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


class TinyNet(nn.Module):
    """A 4-class CNN small enough to explain in milliseconds; ``features`` is the CAM layer."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def tiny_loaded_model(seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(
        module=TinyNet().eval(),
        preprocess=Preprocess(resize=40, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
        class_names=["alpha", "beta", "gamma", "delta"],
        weights_id=f"test:tiny:{seed}",
        description="a tiny test CNN",
    )


@pytest.fixture
def tiny_model() -> LoadedModel:
    return tiny_loaded_model()


@pytest.fixture(scope="session")
def effnet() -> LoadedModel:
    from xai_report.models import load_model

    return load_model({"source": "packaged"}, offline=True)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Two of the study images in a folder of their own."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("n01443537_goldfish.JPEG", "n07747607_orange.JPEG"):
        shutil.copy(STUDY_IMAGES / name, folder / name)
    return folder


def write_study(tmp_path: Path, images: Path, methods=("gradcam", "lime"), extra: str = "", model: str | None = None,
                layer: str = "bn2", metrics: bool = False, randomised: bool = False,
                scores: str | None = 'run = ["sparseness"]') -> Path:
    """A study file in ``tmp_path`` whose outputs stay in ``tmp_path``. Unlike a user's study, the randomised-model
    check is off unless ``randomised`` (it doubles every explanation's cost; the tests that need it ask), and the
    registry's metrics are ``scores`` (the ``[metrics]`` table; None: the study's default set), one pass-free metric
    unless a test asks for more, so that counts of artifacts do not follow the registry's size."""
    model = model or '[models.m]\nsource = "packaged"\n'
    text = f"""
title = "test study"
seed = 0
offline = true
device = "cpu"
output_dir = "out"
site_dir = "site_src"
{model}
[attribution]
model = "m"
images = "{images.as_posix()}"
layer = "{layer}"
methods = {list(methods)!r}
metrics = {"true" if metrics else "false"}
{"" if randomised else "randomised_methods = []"}
{extra}
[attribution.lime]
num_samples = 60
batch_size = 30
{"" if scores is None else "[metrics]" + chr(10) + scores}
"""
    path = tmp_path / "study.toml"
    path.write_text(text.replace("'", '"'))
    return path


def build_with_tiny_model(study: Path) -> None:
    """``xai-report build`` of ``study`` with the tiny test CNN in place of its model (a module-scoped fixture can
    use no ``monkeypatch``); fails the test on a non-zero exit."""
    from click.testing import CliRunner

    import xai_report.stage as stage_base
    from xai_report.cli import main

    patch = pytest.MonkeyPatch()
    patch.setattr(stage_base, "load_model", lambda spec, offline: tiny_loaded_model())
    try:
        result = CliRunner().invoke(main, ["build", "--study", str(study)])
    finally:
        patch.undo()
    assert result.exit_code == 0, (result.output, result.exception)


@pytest.fixture(autouse=True)
def _fresh_fingerprints():
    """Tests that fake an edit or an upgrade (monkeypatched versions or fingerprints) leave no cached closure or
    version behind for the next test."""
    yield
    from xai_report import fingerprint

    fingerprint.clear_caches()


THREAD_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@pytest.fixture(autouse=True)
def _same_threads_after():
    """No test leaves torch's thread count or the thread variables of the environment changed: both decide a
    CPU map's last bits, in this process and in the builds later tests start as subprocesses."""
    before = torch.get_num_threads(), {k: os.environ.get(k) for k in THREAD_SETTINGS}
    yield
    assert (torch.get_num_threads(), {k: os.environ.get(k) for k in THREAD_SETTINGS}) == before, \
        "this test changed the thread settings of the test process"
