"""The README's "Explain your own model" examples (studies/examples/), built offline end to end through
``mkdocs build --strict``: a timm weight file, a Hugging Face folder and an entry point of your own, each with
random weights written where the study file names them."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from xai_report.cli import main
from xai_report.paths import REPO_ROOT

from own_models import PHOTOS, flat_photos, hf_folder, image_folder_layout, timm_file

EXAMPLES = REPO_ROOT / "studies" / "examples"
STUDIES = ("timm_vit.toml", "huggingface_vit.toml", "my_model.toml")


def _inputs(root: Path, study: str) -> None:
    """What the study names, written as a user would have it: weights, photos, labels."""
    if study == "timm_vit.toml":
        timm_file(root / "weights" / "test_vit.safetensors", "test_vit")
        image_folder_layout(root / "my_photos")
    elif study == "huggingface_vit.toml":
        hf_folder(root / "my_hf_vit")
        image_folder_layout(root / "my_photos")
    else:
        sys.path.insert(0, str(root))
        try:
            from my_model import MyNet
        finally:
            sys.path.remove(str(root))
        torch.manual_seed(0)
        (root / "weights").mkdir()
        torch.save(MyNet().state_dict(), root / "weights" / "my_model.pth")
        flat_photos(root / "my_photos")
        (root / "my_labels.csv").write_text("file,label\n" + "".join(f"{n},{c}\n" for c, n in PHOTOS.items()))


@pytest.fixture(scope="module", params=STUDIES)
def built(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("example") / "studies" / "examples"
    root.mkdir(parents=True)
    shutil.copy(EXAMPLES / request.param, root)
    shutil.copy(EXAMPLES / "my_model.py", root)
    _inputs(root, request.param)
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["build", "--study", str(root / request.param), "--offline"])
    assert result.exit_code == 0, result.output
    print(f"{request.param}: built in {time.perf_counter() - start:.1f} s")
    out = root.parent.parent / "output" / {"timm_vit.toml": "example-timm", "huggingface_vit.toml": "example-hf",
                                           "my_model.toml": "example-python"}[request.param]
    return request.param, out


def test_example_builds_with_every_method_and_its_preprocessing(built):
    study, out = built
    results = json.loads((out / "results.json").read_text())["attribution"]
    assert len(results["images"]) == 2 and not results["skipped"]
    for image in results["images"]:
        assert set(image["methods"]) == {"gradcam", "ablationcam", "scorecam", "lime"}
        assert image["true_class"]["name"] in PHOTOS  # the label came from the subfolder or the CSV
        for method in ("gradcam", "ablationcam", "scorecam"):
            cam = np.load(out / image["methods"][method]["map"])
            side = results["model"]["preprocess"]["crop"] or results["model"]["preprocess"]["resize"][0]
            assert np.isfinite(cam).all() and cam.shape == (side, side) and cam.max() > cam.min()
    source = results["model"]["preprocess_source"]
    expected = {"timm_vit.toml": "timm resolve_model_data_config", "huggingface_vit.toml": "AutoImageProcessor",
                "my_model.toml": "entry point"}[study]
    assert source.startswith(expected)
    if study != "my_model.toml":  # the ViTs: a token layer, said so
        assert results["token_layer"]["layout"].startswith("tokens (1 prefix + ")
        assert "AblationLayerVit" in results["token_layer"]["implementations"]["ablationcam"]
    page = (out / "site_src" / "methodology" / "index.md").read_text()
    assert "(from " + expected.replace("_", "\\_") in page  # Markdown-escaped


def test_example_site_builds_strict(built):
    _, out = built
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(out / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=out)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_readme_shows_the_tested_examples():
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Explain your own model", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:toml|python)\n(.*?)```", section, flags=re.S)
    for name in (*STUDIES, "my_model.py"):
        assert (EXAMPLES / name).read_text() in blocks, f"README's block for studies/examples/{name} differs from the file"
