"""The Python API (xai_report.api): a study from a file or from code, a build with a model object in memory (cached
by its weights and preprocessing), the typed results of any build; the model's own preprocessing applied as is."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import xai_report as xr
from xai_report.data import load_rgb, prepare
from xai_report.errors import ConfigError, XaiReportError
from xai_report.models.sources.memory import from_transform, transform_id, weights_hash
from xai_report.records import Results

from conftest import STUDY_IMAGES
from own_models import hf_folder

PHOTO = STUDY_IMAGES / "n01443537_goldfish.JPEG"


def tiny_timm():
    import timm
    from timm.data import create_transform, resolve_model_data_config

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False)
    return model, create_transform(**resolve_model_data_config(model), is_training=False)


def tables(image_folder: Path) -> dict:
    """The study the README's notebook section builds, as tables."""
    return {
        "title": "Notebook study", "device": "cpu", "output_dir": "out", "site_dir": "site_src",
        "models": {"net": {"source": "memory"}},
        "attribution": {"model": "net", "images": str(image_folder), "methods": ["gradcam", "lime"],
                        "metrics": False, "randomised_methods": [], "lime": {"num_samples": 40, "batch_size": 20}},
    }


def test_build_with_a_model_in_memory_gives_typed_results_and_caches_by_weights(tmp_path, image_folder):
    model, transform = tiny_timm()
    study = xr.Study.from_dict(tables(image_folder), base_dir=tmp_path)
    report = xr.build(study, model=model, preprocess=transform)
    assert isinstance(report.results, Results)
    images = report.results.attribution.images
    assert len(images) == 2 and report.summary.computed > 0
    assert report.results.attribution.model.preprocess.transform == transform_id(transform)
    assert report.results.attribution.model.weights_id == f"memory:{weights_hash(model)}"
    assert (report.site_dir / "index.md").is_file() and report.mkdocs_yml.is_file()
    assert report.site_dir == tmp_path / "site_src"

    again = xr.build(xr.Study.from_dict(tables(image_folder), base_dir=tmp_path), model=copy.deepcopy(model),
                     preprocess=transform, render=False)
    assert again.summary.computed == 0 and again.summary.reused > 0  # the same weights, another object: cached

    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.fc.bias += 1.0
    assert weights_hash(changed) != weights_hash(model)
    third = xr.build(xr.Study.from_dict(tables(image_folder), base_dir=tmp_path), model=changed,
                     preprocess=transform, render=False)
    assert third.summary.computed > 0  # other weights: computed again

    loaded = xr.load_results(report.output_dir)
    assert isinstance(loaded, Results) and [i.file for i in loaded.attribution.images] == [i.file for i in images]


def test_a_transform_given_is_applied_as_given():
    model, transform = tiny_timm()
    pre = from_transform(transform)
    img = load_rgb(PHOTO)
    prepared = prepare(img, pre)
    assert torch.equal(prepared.tensor, transform(img).unsqueeze(0))
    assert pre.input_size == tuple(prepared.tensor.shape[-2:])
    # the pixels LIME perturbs give the tensor back when normalised
    mean, std = np.array(pre.mean, dtype=np.float32), np.array(pre.std, dtype=np.float32)
    again = (prepared.rgb - mean) / std
    assert np.abs(again.transpose(2, 0, 1) - prepared.tensor[0].numpy()).max() < 1e-5


def test_a_hugging_face_model_is_fed_its_image_processors_own_tensor(tmp_path):
    from transformers import AutoImageProcessor

    from xai_report.models import load_model

    folder = hf_folder(tmp_path / "hf", image_size=64)
    loaded = load_model({"source": "huggingface", "name": str(folder)}, offline=True)
    for name in ("n01443537_goldfish.JPEG", "n02007558_flamingo.JPEG", "n07747607_orange.JPEG"):
        img = load_rgb(STUDY_IMAGES / name)
        expected = AutoImageProcessor.from_pretrained(folder)(img, return_tensors="pt")["pixel_values"]
        assert torch.equal(prepare(img, loaded.preprocess).tensor, expected), name
    assert loaded.preprocess.to_dict()["transform"].startswith("ViTImageProcessor")


def test_timm_models_keep_create_transforms_output(tmp_path):
    from own_models import timm_file
    from timm.data import create_transform, resolve_model_data_config

    from xai_report.models import load_model

    file = timm_file(tmp_path / "vit.safetensors", family="test_vit")
    loaded = load_model({"source": "timm", "name": "test_vit", "file": str(file)}, offline=True)
    img = load_rgb(PHOTO)
    expected = create_transform(**resolve_model_data_config(loaded.module), is_training=False)(img).unsqueeze(0)
    assert torch.allclose(prepare(img, loaded.preprocess).tensor, expected, atol=1e-6)


def test_study_in_code_is_checked_like_a_file(tmp_path, image_folder):
    bad = tables(image_folder) | {"sede": 1}
    with pytest.raises(ConfigError) as caught:
        xr.Study.from_dict(bad, base_dir=tmp_path)
    assert "sede" in str(caught.value) and "\n" not in str(caught.value)
    wrong_method = tables(image_folder)
    wrong_method["attribution"] = wrong_method["attribution"] | {"methods": ["gradcam", "nosuchmethod"]}
    with pytest.raises(ConfigError, match="nosuchmethod"):
        xr.Study.from_dict(wrong_method, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="study file not found"):
        xr.Study.from_toml(tmp_path / "missing.toml")
    study = xr.Study.from_dict(tables(image_folder), base_dir=tmp_path)
    with pytest.raises(ConfigError, match='source = "memory" needs its model object'):
        xr.build(study)


def test_load_results_refuses_another_schema_version_in_one_line(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 0, "study": {}}))
    with pytest.raises(XaiReportError) as caught:
        xr.load_results(tmp_path)
    assert "schema_version 0" in str(caught.value) and "\n" not in str(caught.value)
    (tmp_path / "results.json").write_text("not json")
    with pytest.raises(XaiReportError, match="not a results.json"):
        xr.load_results(tmp_path / "results.json")


def test_a_memory_model_in_a_study_file_stops_the_command_line_in_one_line(tmp_path, image_folder):
    study = tmp_path / "study.toml"
    study.write_text(f'device = "cpu"\n[models.net]\nsource = "memory"\n[attribution]\nmodel = "net"\n'
                     f'images = "{image_folder.as_posix()}"\nmethods = ["gradcam"]\n')
    proc = subprocess.run([sys.executable, "-m", "xai_report.cli", "build", "--study", str(study)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "xai_report.build(study, model=...)" in proc.stderr


def test_importing_the_package_does_not_import_the_api():
    code = "import sys, xai_report; print('xai_report.api' in sys.modules, 'torch' in sys.modules, xai_report.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split()
    assert out[:2] == ["False", "False"] and out[2] == xr.__version__


def test_readme_notebook(tmp_path, monkeypatch):
    """The README's notebook section, run as written in a folder of its own with two photos."""
    import re
    import shutil

    from xai_report.paths import REPO_ROOT

    block = re.search(r"### In a notebook.*?```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S).group(1)
    (tmp_path / "my_photos").mkdir()
    for name in ("n01443537_goldfish.JPEG", "n07747607_orange.JPEG"):
        shutil.copy(STUDY_IMAGES / name, tmp_path / "my_photos" / name)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert isinstance(scope["report"].results, Results) and len(scope["results"].attribution.images) == 2
    assert scope["report"].site_dir == tmp_path / "site_src" and (tmp_path / "site_src" / "index.md").is_file()
