"""The study config: every mistake is one line naming the key and what is allowed."""

from pathlib import Path

import pytest
import torch
import torchvision

from xai_report import pipeline
from xai_report.attribution.methods.registry import METHODS

from xai_report.config import load_study
from xai_report.errors import ConfigError
from xai_report.models import load_model
from xai_report.paths import STUDIES_DIR

from conftest import write_study


def test_shipped_studies_load():
    default = load_study(STUDIES_DIR / "default.toml")
    assert default.models["resnet50"].weights == "IMAGENET1K_V2"
    assert default.attribution.layer == "layer4[-1]"
    assert default.attribution.methods == ["gradcam", "ablationcam", "scorecam", "lime"]
    assert METHODS["lime"].parameters(default.attribution.method_table("lime")).num_samples == 1000
    assert default.dissection.layers == ["layer3", "layer4", "fc"]
    offline = load_study(STUDIES_DIR / "offline.toml")
    assert offline.offline and offline.models["efficientnet_lite0"].source == "packaged"
    assert offline.attribution.images == default.attribution.images
    assert offline.output_path != default.output_path


def test_default_is_the_original_study():
    assert load_study(None).source_file.endswith("default.toml")


@pytest.mark.parametrize(
    "extra, message",
    [
        ('colour = "red"', "unknown key attribution.colour"),
        ("batch_size = \"big\"", "attribution.batch_size: expected int"),
        ("target = 1.5", "attribution.target: expected str or int"),
        ('target = "best"', "attribution.target: 'best'"),
    ],
)
def test_attribution_mistakes(tmp_path, image_folder, extra, message):
    study = write_study(tmp_path, image_folder, extra=extra)
    with pytest.raises(ConfigError) as err:
        load_study(study)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_method_lists_allowed(tmp_path, image_folder):
    study = write_study(tmp_path, image_folder, methods=("gradcam", "magiccam"))
    load_study(study)  # the config alone does not know the methods: the attribution registry checks them
    with pytest.raises(ConfigError, match="study.toml: attribution.methods: unknown method 'magiccam'; allowed: gradcam, ablationcam"):
        pipeline.load_study(study)


@pytest.mark.parametrize("edit, message", [
    ("[attribution.rise]\nmasks = 0\n", "attribution.rise: masks >= 1, cells >= 1 and 0 < keep <= 1 are required"),
    ("[attribution.rise]\nmask = 3\n", "unknown key attribution.rise.mask; allowed: masks, cells, keep"),
    ("[attribution.gradcam]\nbatch = 3\n", "unknown key attribution.gradcam.batch; allowed: "),
    ("[attribution.nonsense]\nx = 1\n", "unknown key attribution.nonsense; allowed: enabled, model"),
    ("num_samples = 5", "attribution.lime: num_samples >= 10"),
])
def test_each_method_checks_its_own_table(tmp_path, image_folder, edit, message):
    study = write_study(tmp_path, image_folder, methods=("gradcam",))
    text = study.read_text()
    study.write_text(text.replace("num_samples = 60", edit) if edit.startswith("num_") else text + "\n" + edit)
    with pytest.raises(ConfigError) as err:
        pipeline.load_study(study)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_method_parameters_are_typed_and_reach_the_explainer(tmp_path, image_folder):
    study = write_study(tmp_path, image_folder, methods=("gradcam", "rise"))
    study.write_text(study.read_text() + "\n[attribution.rise]\nmasks = 40\ncells = 5\n")
    cfg = pipeline.load_study(study).attribution
    rise = METHODS["rise"].parameters(cfg.method_table("rise"))
    assert (rise.masks, rise.cells, rise.keep) == (40, 5, 0.5)
    assert METHODS["gradcam"].parameters(cfg.method_table("gradcam")).model_dump() == {}


def test_missing_image_folder(tmp_path):
    study = write_study(tmp_path, tmp_path / "nope")
    with pytest.raises(ConfigError, match="attribution.images: folder .*nope does not exist"):
        load_study(study)


def test_unknown_top_level_key_and_model_source(tmp_path, image_folder):
    study = write_study(tmp_path, image_folder)
    study.write_text('sede = 3\n' + study.read_text())
    with pytest.raises(ConfigError, match="unknown key sede; allowed: title"):
        load_study(study)
    study = write_study(tmp_path, image_folder, model='[models.m]\nsource = "hub"\n')
    with pytest.raises(ConfigError, match="models.m.source: unknown 'hub'; allowed: torchvision, places365"):
        load_study(study)


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("title = \n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_study(bad)
    with pytest.raises(ConfigError, match="study file not found"):
        load_study(tmp_path / "missing.toml")


def test_benchmarks_folder_must_exist(tmp_path, image_folder):
    study = write_study(tmp_path, image_folder, model='benchmarks = "no-such-dir"\n[models.m]\nsource = "packaged"\n')
    with pytest.raises(ConfigError, match="benchmarks: folder .*no-such-dir does not exist; fix the path or remove"):
        load_study(study)
    (tmp_path / "no-such-dir").mkdir()
    assert load_study(study).benchmarks == str(tmp_path / "no-such-dir")  # made absolute at load


def test_preprocess_table_reaches_the_loader(tmp_path, image_folder):
    """The bug of issue 12: load_local read ``preprocess`` but the config refused the key."""
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "w.pth")
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(1000)) + "\n")
    model = ('[models.m]\nsource = "local"\narch = "resnet18"\nfile = "w.pth"\nclass_names = "classes.txt"\n'
             '[models.m.preprocess]\nresize = 232\ncrop = 224\nmean = [0.485, 0.456, 0.406]\nstd = [0.229, 0.224, 1]\n'
             'interpolation = "bilinear"\n')
    study = load_study(write_study(tmp_path, image_folder, model=model, layer="layer4"))
    spec = study.models["m"].loader_spec()
    assert spec["preprocess"] == {"resize": 232, "crop": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 1.0],
                                  "interpolation": "bilinear"}
    assert spec["class_names"] == str(tmp_path / "classes.txt")  # paths are absolute after loading
    loaded = load_model(spec)
    assert loaded.preprocess.resize == 232 and loaded.preprocess.std == (0.229, 0.224, 1.0)
    assert loaded.class_names[999] == "c999"
    spec = load_study(write_study(tmp_path, image_folder,
                                  model='[models.m]\nsource = "local"\narch = "resnet18"\nfile = "w.pth"\n')).models["m"]
    assert spec.preprocess is None and "preprocess" not in spec.loader_spec()


@pytest.mark.parametrize(
    "table, message",
    [
        ("size = 3", "unknown key models.m.preprocess.size; allowed: resize, crop, mean, std, interpolation"),
        ("resize = [224, 224, 3]", "models.m.preprocess.resize: [224, 224, 3]; allowed: a side length >= 1"),
        ("resize = 0", "models.m.preprocess.resize: 0; allowed"),
        ('resize = "big"', "models.m.preprocess.resize: expected int or list of int, found str 'big'"),
        ("crop = -1", "models.m.preprocess.crop: -1; allowed: a side length >= 1, or 0 for no crop"),
        ("crop = true", "models.m.preprocess.crop: expected int, found bool True"),
        ("mean = [0.5, 0.5]", "models.m.preprocess.mean: 2 values; give one per channel"),
        ('mean = ["a", 0.5, 0.5]', "models.m.preprocess.mean[0]: expected float, found str 'a'"),
        ("std = [0.5, 0, 0.5]", "models.m.preprocess.std: [0.5, 0.0, 0.5]; every value must be above 0"),
        ('interpolation = "cubic"', "models.m.preprocess.interpolation: unknown 'cubic'; allowed: nearest"),
    ],
)
def test_preprocess_mistakes(tmp_path, image_folder, table, message):
    study = write_study(tmp_path, image_folder, model=f'[models.m]\nsource = "packaged"\n[models.m.preprocess]\n{table}\n')
    with pytest.raises(ConfigError) as err:
        load_study(study)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "model, message",
    [
        ('source = "torchvision"\nname = "resnet18"\nfile = "nope.pth"', "models.m.file: .*nope.pth does not exist"),
        ('source = "packaged"\nfile = "nope.pth"', "models.m.file: not used by source = \"packaged\""),
        ('source = "local"\narch = "resnet18"\nfile = "w.pth"\nclass_names = "nope.txt"',
         "models.m.class_names: file .*nope.txt does not exist"),
        ('name = "resnet18"', "models.m.source: required"),
        ('source = "packaged"\npreprocess = 3', "models.m.preprocess: expected a table, found int"),
    ],
)
def test_model_file_mistakes(tmp_path, image_folder, model, message):
    (tmp_path / "w.pth").write_bytes(b"")
    study = write_study(tmp_path, image_folder, model=f"[models.m]\n{model}\n", layer="layer4")
    with pytest.raises(ConfigError, match=message):
        load_study(study)


def test_study_is_mutable_and_internal_fields_are_not_keys(tmp_path, image_folder):
    study = load_study(write_study(tmp_path, image_folder))
    study.offline, study.device = False, "cpu"  # what the command line's --online/--device do
    assert study.base_dir == tmp_path.resolve() and study.source_file.endswith("study.toml")
    assert study.path("/abs/x") == Path("/abs/x") and study.path("rel") == tmp_path.resolve() / "rel"
    path = write_study(tmp_path, image_folder)
    path.write_text('base_dir = "/"\n' + path.read_text())
    with pytest.raises(ConfigError, match="unknown key base_dir; allowed: title, "):
        load_study(path)


def test_first_images_cuts_the_folder_and_refuses_a_negative_count(tmp_path, image_folder):
    from xai_report.attribution.inputs import load_inputs
    from xai_report.labels import image_files
    from xai_report.models.preprocess import Preprocess

    study = write_study(tmp_path, image_folder, extra="first_images = -1")
    with pytest.raises(ConfigError, match="attribution.first_images: must be 0 .every image. or more"):
        load_study(study)
    pre = Preprocess(resize=40, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    every, _ = load_inputs(image_folder, pre)
    first, _ = load_inputs(image_folder, pre, first=1)
    assert len(every) == len(image_files(image_folder)) == 2
    assert [i.path for i in first] == [every[0].path]
