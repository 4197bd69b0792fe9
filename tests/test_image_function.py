"""The per-image attribution work as a function of (image, bound model, settings, cache): what another process with
the same store would run (attribution/image.py, attribution/bound.py, cache.py)."""

import pickle
import shutil
from pathlib import Path

import torch

from xai_report.labels import true_labels

from xai_report.attribution.bound import ImageSettings, bind
from xai_report.attribution.image import explain_image, steps_per_image
from xai_report.attribution.inputs import load_inputs
from xai_report.attribution.stage import AttributionStage
from xai_report.cache import StoreCache
from xai_report.config import load_study
from xai_report.store import ArtifactStore

from conftest import tiny_loaded_model, write_study


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_worker_with_the_same_store_reuses_everything_and_gives_the_same_records(tmp_path, image_folder):
    study_file = write_study(tmp_path, image_folder, methods=("gradcam", "lime"), layer="features", metrics=True,
                             randomised=True)
    study_file.write_text(study_file.read_text().replace(
        "metrics = true", 'metrics = true\nstability_methods = ["lime"]\nstability_seeds = 1'))
    study = load_study(study_file)
    store = ArtifactStore(study.output_path / "store")
    stage = AttributionStage(study, store, model=tiny_loaded_model(0))
    section = stage.run()
    assert stage.stats.computed > 0

    # What a worker is sent (settings, images) survives pickling; the model it binds itself, from the study.
    settings = pickle.loads(pickle.dumps(ImageSettings.of(study)))
    inputs, _ = load_inputs(Path(study.attribution.images), stage.bound.model.preprocess)
    inputs = pickle.loads(pickle.dumps(inputs))
    bound = bind(study, torch.device("cpu"), model=tiny_loaded_model(0))
    worker_out = tmp_path / "worker_out"
    cache = StoreCache(store, worker_out)
    found = [explain_image(item, bound, settings, cache) for item in inputs]

    assert cache.counts.computed == 0 and cache.counts.reused > 0  # the same keys: nothing recomputed
    assert [f.record for f in found] == section["images"]
    assert _files(worker_out) == {k: v for k, v in _files(study.output_path).items() if k.split("/")[0]
                                  in ("maps", "overlays")}
    for f in found:  # timings come back as values (the stage puts them in timings.json), not into a stage
        assert set(f.timings) == {"gradcam", "lime", "lime_extra_seeds", "metrics"}
        assert f.timings == stage.stats.timings[f.record["id"]]


def test_an_image_without_a_class_to_explain_gives_its_skip_reason_and_all_its_steps(tmp_path, image_folder):
    shutil.copy(image_folder / "n01443537_goldfish.JPEG", image_folder / "holiday.JPEG")
    study_file = write_study(tmp_path, image_folder, methods=("gradcam",), layer="features", metrics=True)
    study_file.write_text(study_file.read_text().replace('layer = "features"', 'layer = "features"\ntarget = "label"'))
    study = load_study(study_file)
    settings = ImageSettings.of(study)
    model = tiny_loaded_model(0)
    model.wnids = ["n00000001", "n01443537", "n00000003", "n00000004"]  # class 1 is the goldfish
    inputs, _ = load_inputs(Path(study.attribution.images), model.preprocess)
    bound = bind(study, torch.device("cpu"), model=model)
    cache = StoreCache(ArtifactStore(tmp_path / "store"), tmp_path / "out")
    steps: list[int] = []
    labels = true_labels(Path(study.attribution.images), [i.path for i in inputs], model.class_names, model.wnids)
    found = {item.path.name: explain_image(item, bound, settings, cache, lambda n, note: steps.append(n),
                                           labels.get(item.path))
             for item in inputs}

    skipped = found["holiday.JPEG"]
    assert skipped.record is None and skipped.timings == {}
    assert skipped.skip["file"] == "holiday.JPEG" and "WordNet id" in skipped.skip["reason"]
    assert found["n01443537_goldfish.JPEG"].record["target"]["index"] == 1
    assert found["n07747607_orange.JPEG"].record is None  # its class is not among the model's
    assert sum(steps) == len(inputs) * steps_per_image(settings) == 3 * 3
    assert not (tmp_path / "out" / "overlays" / "holiday_photo.jpg").exists()
