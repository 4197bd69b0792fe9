"""The map measures on synthetic maps: energy in the boxes, spread, Gini, seed agreement; boxes mapped into
the model's input frame exactly as torchvision resizes and crops; and the stage's records with a tiny model."""

import json

import numpy as np
import pytest
from PIL import Image

from xai_report.attribution.metrics.localisation import boxes, energy
from xai_report.attribution.metrics.complexity import concentration
from xai_report.attribution.metrics.robustness import stability
from xai_report.data import prepare
from xai_report.errors import BadInput
from xai_report.models import Preprocess
from xai_report.paths import DATA_DIR

BOXES = DATA_DIR / "annotations" / "study_image_boxes.csv"
SQUARE = Preprocess(resize=8, crop=8, mean=(0.5,) * 3, std=(0.5,) * 3)


def box_mask(shape=(20, 30), rows=slice(5, 10), cols=slice(10, 25)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def test_energy_is_one_for_a_map_inside_the_box_and_the_area_share_for_a_uniform_map():
    mask = box_mask()
    inside = np.where(mask, np.random.default_rng(0).uniform(0.1, 1.0, mask.shape), 0.0)
    assert energy.energy_in_mask(inside, mask) == pytest.approx(1.0)
    uniform = np.full(mask.shape, 0.3)
    assert energy.energy_in_mask(uniform, mask) == pytest.approx(energy.area_share(mask)) == pytest.approx(75 / 600)
    outside = np.where(mask, 0.0, 1.0)
    assert energy.energy_in_mask(outside, mask) == 0.0


def test_energy_counts_only_positive_mass():
    mask = box_mask()
    signed = np.where(mask, 1.0, -5.0)  # negative evidence outside the box is no mass at all
    assert energy.energy_in_mask(signed, mask) == pytest.approx(1.0)
    half = np.where(mask, 1.0, 0.0)
    half[0, 0] = 75.0  # as much mass on one outside pixel as in the whole box
    assert energy.energy_in_mask(half, mask) == pytest.approx(0.5)
    assert energy.energy_in_mask(np.full(mask.shape, -1.0), mask) is None


def test_spread_is_the_share_of_pixels_at_or_above_half_the_max():
    block = np.zeros((100, 100))
    block[:10, :10] = 1.0
    assert concentration.spread(block) == pytest.approx(0.01)
    ramp = np.tile(np.arange(100) / 99.0, (10, 1))  # values >= 0.5 in 50 of 100 columns
    assert concentration.spread(ramp) == pytest.approx(0.5)
    assert concentration.spread(np.ones((4, 4))) == 1.0
    assert concentration.spread(np.zeros((4, 4))) is None


def test_gini_on_known_maps():
    assert concentration.gini(np.ones((10, 10))) == pytest.approx(0.0)
    spike = np.zeros((10, 10))
    spike[3, 4] = 2.0
    assert concentration.gini(spike) == pytest.approx(1 - 1 / 100)
    assert concentration.gini(np.array([[0.0, 0.0], [1.0, 1.0]])) == pytest.approx(0.5)
    assert concentration.gini(np.array([[0.0, -3.0], [1.0, 1.0]])) == pytest.approx(0.5)  # positive part
    assert concentration.gini(np.zeros((3, 3))) is None
    # a more concentrated map has a higher Gini and a smaller spread
    broad, narrow = np.ones((20, 20)), np.zeros((20, 20))
    broad[5:15, 5:15], narrow[8:12, 8:12] = 3.0, 3.0
    assert concentration.gini(narrow) > concentration.gini(broad)
    assert concentration.spread(narrow) < concentration.spread(broad)


def test_seed_agreement_of_identical_and_opposite_maps():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(16, 16))
    found = stability.seed_agreement({0: a, 1: a.copy(), 2: -a})
    assert found["seeds"] == [0, 1, 2] and len(found["pairs"]) == 3
    by_pair = {(p["a"], p["b"]): p["spearman"] for p in found["pairs"]}
    assert by_pair[(0, 1)] == pytest.approx(1.0) and by_pair[(0, 2)] == pytest.approx(-1.0)
    assert found["min_spearman"] == pytest.approx(-1.0)
    assert found["mean_spearman"] == pytest.approx(-1 / 3, abs=1e-6)


def test_the_study_boxes_file():
    found = boxes.read_boxes(BOXES)
    assert len(found) == 10
    assert found["n01608432_kite.JPEG"].boxes == ()  # no kite in the photo
    assert len(found["n02007558_flamingo.JPEG"].boxes) == 3 and len(found["n02018207_American_coot.JPEG"].boxes) == 2


@pytest.mark.parametrize("row, message", [("a.jpg,n1,1,2,x,4,o", "four numbers"), ("a.jpg,n1,5,2,3,4,o", "x0 < x1")])
def test_a_bad_box_row_is_one_line_naming_the_line(tmp_path, row, message):
    path = tmp_path / "boxes.csv"
    path.write_text("file,wnid,x0,y0,x1,y1,object\n" + row + "\n")
    with pytest.raises(BadInput, match=f"line 2: .*{message}"):
        boxes.read_boxes(path)


def test_box_mask_through_resize_and_centre_crop():
    marked = boxes.ImageBoxes("x", (boxes.Box(0, 0, 8, 8, "quarter"),))
    mask = boxes.input_mask(marked, (16, 16), SQUARE)  # 16x16 -> 8x8: the top-left quarter
    assert mask.shape == (8, 8) and mask[:4, :4].all() and mask.sum() == 16
    wide = Preprocess(resize=100, crop=100, mean=(0.5,) * 3, std=(0.5,) * 3)
    middle = boxes.ImageBoxes("x", (boxes.Box(100, 0, 300, 200, "middle"),))
    assert boxes.input_mask(middle, (400, 200), wide).all()  # 400x200 -> 200x100, crop keeps x 100..300
    left = boxes.ImageBoxes("x", (boxes.Box(0, 0, 90, 200, "left"),))
    assert not boxes.input_mask(left, (400, 200), wide).any()  # cropped away


def test_box_mask_matches_the_pixels_torchvision_keeps(tmp_path):
    """A white box drawn on a photo-sized canvas lands where the mask says, after the model's own preprocessing."""
    pre = Preprocess(resize=70, crop=64, mean=(0.5,) * 3, std=(0.5,) * 3)
    img = Image.new("RGB", (333, 250), "black")
    img.paste((255, 255, 255), (60, 40, 260, 190))  # x0, y0, x1, y1 (exclusive)
    white = prepare(img, pre).rgb.mean(axis=2) > 0.5
    mask = boxes.input_mask(boxes.ImageBoxes("x", (boxes.Box(60, 40, 260, 190, "box"),)), img.size, pre)
    assert mask.shape == white.shape == (64, 64)
    assert (mask != white).sum() <= 2 * (64 + 64)  # at most the box's edge pixels differ (bilinear blur)
    assert (mask & white).sum() / (mask | white).sum() > 0.9


def test_stage_records_the_measures_in_artifacts_of_their_own(tmp_path, image_folder):
    from xai_report.attribution.stage import AttributionStage
    from xai_report.config import load_study
    from xai_report.store import ArtifactStore

    from conftest import tiny_loaded_model, write_study

    rows = BOXES.read_text().splitlines()
    (tmp_path / "boxes.csv").write_text("\n".join([rows[0]] + [r for r in rows if r.startswith("n01443537")]) + "\n")
    study_file = write_study(tmp_path, image_folder, methods=("gradcam", "lime"), layer="features", metrics=True,
                             extra=f'boxes = "{(tmp_path / "boxes.csv").as_posix()}"\ndeletion_steps = 4')
    study_file.write_text(study_file.read_text().replace("metrics = true", 'metrics = true\nstability_methods = ["lime"]\nstability_seeds = 1'))

    def run():
        study = load_study(study_file)
        stage = AttributionStage(study, ArtifactStore(study.output_path / "store"), model=tiny_loaded_model())
        return stage.run(), stage.stats

    section, stats = run()
    kinds = [json.loads(p.read_text()).get("kind") for p in (tmp_path / "out" / "store").rglob("meta.json")]
    assert kinds.count("map_measures") == 2 and kinds.count("seed_stability") == 2  # one each per image
    fish, orange = section["images"]
    assert fish["map_measures"]["boxes"]["count"] == 1 and 0 < fish["map_measures"]["boxes"]["area_share"] < 1
    assert orange["map_measures"]["boxes"] == {"absent": "n07747607_orange.JPEG has no row in boxes.csv"}
    for method in ("gradcam", "lime"):
        found = fish["map_measures"]["methods"][method]
        assert 0 <= found["energy_in_boxes"] <= 1 and 0 < found["spread_half_max"] <= 1 and 0 <= found["gini"] < 1
        assert orange["map_measures"]["methods"][method]["energy_in_boxes"] is None
    assert list(fish["seed_stability"]) == ["lime"]
    assert fish["seed_stability"]["lime"]["seeds"] == [0, 1] and -1 <= fish["seed_stability"]["lime"]["mean_spearman"] <= 1
    summary = section["map_measures"]["methods"]["gradcam"]
    assert summary["images_with_boxes"] == 1 and summary["energy_in_boxes"] == fish["map_measures"]["methods"]["gradcam"]["energy_in_boxes"]
    again, stats = run()
    assert stats.computed == 0 and again == section


def test_editing_a_measure_module_recomputes_the_measures_only(tmp_path, image_folder, monkeypatch):
    from xai_report import fingerprint
    from xai_report.attribution.stage import AttributionStage
    from xai_report.config import load_study
    from xai_report.store import ArtifactStore

    from conftest import tiny_loaded_model, write_study

    study_file = write_study(tmp_path, image_folder, methods=("gradcam",), layer="features", metrics=True,
                             extra=f'boxes = "{BOXES.as_posix()}"\ndeletion_steps = 4')
    store = tmp_path / "out" / "store"

    def run_and_kinds():
        study = load_study(study_file)
        AttributionStage(study, ArtifactStore(study.output_path / "store"), model=tiny_loaded_model()).run()
        return {p: json.loads(p.read_text()).get("kind") for p in store.rglob("meta.json")}

    before = run_and_kinds()
    real = fingerprint.module_fingerprint
    monkeypatch.setattr(fingerprint, "module_fingerprint",
                        lambda m: "edited" if m == "xai_report.attribution.metrics.localisation.energy" else real(m))
    fingerprint.clear_caches()
    after = run_and_kinds()
    new = sorted(kind for path, kind in after.items() if path not in before)
    assert new == ["map_measures", "map_measures"]  # the faithfulness metrics and the maps are reused
