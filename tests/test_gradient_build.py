"""One small build with the captum methods (issue 24): a tiny model, one photo, every new method at cheap settings,
Guided Backprop in the randomised-model check, metrics on; results.json and the image page carry what they found."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest


from conftest import STUDY_IMAGES, build_with_tiny_model, write_study

NEW = ("saliency", "inputxgradient", "integratedgradients", "smoothgrad", "gradientshap", "expectedgradients",
       "guidedbackprop", "guidedgradcam", "deeplift", "occlusion", "kernelshap")
TABLES = """
[attribution.integratedgradients]
steps = 16
[attribution.smoothgrad]
samples = 4
[attribution.gradientshap]
samples = 4
[attribution.expectedgradients]
samples = 4
probe_images = 2
[attribution.occlusion]
window = 8
stride = 8
[attribution.kernelshap]
samples = 20
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("captum")
    images = root / "images"
    images.mkdir()
    shutil.copy(STUDY_IMAGES / "n01443537_goldfish.JPEG", images)
    study = write_study(root, images, methods=("lime",) + NEW, layer="features", metrics=True, randomised=True,
                        extra='randomised_methods = ["guidedbackprop", "integratedgradients"]\ndeletion_steps = 4')
    study.write_text(study.read_text().replace("[attribution.lime]", TABLES + "\n[attribution.lime]"))
    build_with_tiny_model(study)
    return root, json.loads((root / "out" / "results.json").read_text())


def test_every_new_method_is_in_results_and_its_map_exported(built):
    root, results = built
    record = results["attribution"]["images"][0]
    for name in NEW:
        entry = record["methods"][name]
        saved = np.load(root / "out" / entry["map"])
        assert saved.shape == (32, 32) and saved.dtype == np.float32 and np.isfinite(saved).all(), name
    assert record["methods"]["kernelshap"]["weights"]  # its superpixels, region by region beside LIME's
    delta = record["methods"]["integratedgradients"]["convergence_delta"]
    assert isinstance(delta, float)


def test_image_page_shows_the_completeness_gap(built):
    root, results = built
    pages = list((root / "site_src" / "attribution" / "images").rglob("*.md"))
    text = "\n".join(p.read_text() for p in pages)
    delta = results["attribution"]["images"][0]["methods"]["integratedgradients"]["convergence_delta"]
    assert "Integrated Gradients: the attributions sum to f(x) − f(baseline)" in text
    assert "DeepLIFT: the attributions sum to" in text
    assert f"completeness gap of\n{delta:.6f} (captum's convergence delta)" in text


def test_randomised_check_covers_guided_backprop(built):
    _, results = built
    randomised = json.dumps(results["attribution"]["randomised"])
    assert "guidedbackprop" in randomised and "integratedgradients" in randomised
