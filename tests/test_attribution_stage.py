"""The attribution stage's mechanics, with a tiny model: caching, targets, skips, results.json."""

import json

import numpy as np
import pytest

from xai_report.attribution.stage import AttributionStage
from xai_report.config import load_study
from xai_report.errors import ConfigError
from xai_report.pipeline import run_stages
from xai_report.store import ArtifactStore

from conftest import tiny_loaded_model, write_study


def run_tiny(study_file, model_seed=0):
    study = load_study(study_file)
    store = ArtifactStore(study.output_path / "store")
    stage = AttributionStage(study, store, model=tiny_loaded_model(model_seed))
    return stage.run(), stage.stats


def test_results_record_and_raw_maps(tmp_path, image_folder):
    study_file = write_study(tmp_path, image_folder, methods=("gradcam", "gradcam++", "lime"), layer="features")
    section, stats = run_tiny(study_file)
    # predictions, 3 maps, unit maps, the default registry metric (sparseness) on each map
    assert stats.computed == 2 * (1 + 3 + 1 + 3) and stats.reused == 0
    assert [r["file"] for r in section["images"]] == ["n01443537_goldfish.JPEG", "n07747607_orange.JPEG"]
    record = section["images"][0]
    probs = [p["probability"] for p in record["predictions"]]
    assert len(probs) == 4 and probs == sorted(probs, reverse=True)  # tiny model has 4 classes
    assert record["target"]["index"] == record["predictions"][0]["index"] and record["target"]["rule"] == "predicted"
    out = tmp_path / "out"
    for name, entry in record["methods"].items():
        assert entry["class_index"] == record["target"]["index"]
        cam = np.load(out / entry["map"])
        assert cam.dtype == np.float32 and cam.shape == (32, 32)
        assert (out / entry["overlay"]).read_bytes()[:2] == b"\xff\xd8"  # JPEG
        assert entry["overlay"] == f"overlays/n01443537_goldfish_{name}.jpg"
    lime = record["methods"]["lime"]
    segments = np.load(out / lime["segments"])
    pixel_map = np.load(out / lime["map"])
    for seg, weight in lime["weights"].items():
        assert np.allclose(pixel_map[segments == int(seg)], weight)


def test_second_build_computes_nothing_and_a_changed_image_only_its_own(tmp_path, image_folder):
    study_file = write_study(tmp_path, image_folder, methods=("gradcam", "lime"), layer="features")
    first, _ = run_tiny(study_file)
    second, stats = run_tiny(study_file)
    assert stats.computed == 0 and stats.reused == 2 * (1 + 2 + 1 + 2)
    assert second == first
    # change one image's bytes: only its 6 artifacts are recomputed
    from PIL import Image

    path = image_folder / "n07747607_orange.JPEG"
    Image.open(path).rotate(90).save(path, format="JPEG")
    third, stats = run_tiny(study_file)
    assert stats.computed == 6 and stats.reused == 6
    assert third["images"][0] == first["images"][0]
    assert third["images"][1]["sha256"] != first["images"][1]["sha256"]


def test_same_study_gives_identical_results(tmp_path, image_folder):
    a = write_study(tmp_path / "a", image_folder, layer="features") if (tmp_path / "a").mkdir() is None else None
    b = write_study(tmp_path / "b", image_folder, layer="features") if (tmp_path / "b").mkdir() is None else None
    first, _ = run_tiny(a)
    second, _ = run_tiny(b)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    for rec in first["images"]:
        for entry in rec["methods"].values():
            assert (tmp_path / "a" / "out" / entry["map"]).read_bytes() == (tmp_path / "b" / "out" / entry["map"]).read_bytes()


def test_unreadable_image_is_skipped_with_reason(tmp_path, image_folder):
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (image_folder / "empty.png").write_bytes(b"")
    section, _ = run_tiny(write_study(tmp_path, image_folder, methods=("gradcam",), layer="features"))
    assert len(section["images"]) == 2
    reasons = {s["file"]: s["reason"] for s in section["skipped"]}
    assert set(reasons) == {"broken.jpg", "empty.png"}
    assert all("not a readable image" in r and "\n" not in r for r in reasons.values())


def test_fixed_class_index_and_out_of_range(tmp_path, image_folder):
    section, _ = run_tiny(write_study(tmp_path, image_folder, methods=("gradcam",), layer="features", extra="target = 2"))
    assert all(r["target"]["index"] == 2 and r["target"]["rule"] == "index" for r in section["images"])
    with pytest.raises(ConfigError, match="class 7 is out of range; m has classes 0-3"):
        run_tiny(write_study(tmp_path, image_folder, methods=("gradcam",), layer="features", extra="target = 7"))


def test_label_target_explains_the_true_class(tmp_path, effnet):
    """The kite is misread (top-1 'hip'); target = "label" still explains class 21, kite."""
    import shutil

    from conftest import STUDY_IMAGES

    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(STUDY_IMAGES / "n01608432_kite.JPEG", folder)
    (folder / "holiday.jpg").write_bytes((STUDY_IMAGES / "n07747607_orange.JPEG").read_bytes())
    study = load_study(write_study(tmp_path, folder, methods=("gradcam",), extra='target = "label"'))
    stage = AttributionStage(study, ArtifactStore(study.output_path / "store"), model=effnet)
    section = stage.run()
    (kite,) = section["images"]
    assert kite["target"]["index"] == 21 and kite["target"]["name"] == "kite"
    assert kite["predictions"][0]["index"] != 21 and kite["correct"] is False
    assert section["skipped"][0]["file"] == "holiday.jpg" and "WordNet id" in section["skipped"][0]["reason"]


def test_run_stages_writes_results_json(tmp_path, image_folder, monkeypatch):
    import xai_report.stage as stage_base

    monkeypatch.setattr(stage_base, "load_model", lambda spec, offline: tiny_loaded_model())
    study = load_study(write_study(tmp_path, image_folder, methods=("gradcam",), layer="features"))
    summary = run_stages(study)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["study"]["seed"] == 0 and len(results["attribution"]["images"]) == 2
    # 2 x (predictions, map, unit maps, sparseness of the map)
    assert summary.computed == 8 and "computed 8 artifacts" in summary.line()
    again = run_stages(study)
    assert again.computed == 0 and again.line().startswith("nothing to compute: reused 8")
