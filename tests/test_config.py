"""The study config: every mistake is one line naming the key and what is allowed."""

import pytest

from xai_report.config import load_study
from xai_report.errors import ConfigError
from xai_report.paths import STUDIES_DIR

from conftest import write_study


def test_shipped_studies_load():
    default = load_study(STUDIES_DIR / "default.toml")
    assert default.models["resnet50"].weights == "IMAGENET1K_V2"
    assert default.attribution.layer == "layer4[-1]"
    assert default.attribution.methods == ["gradcam", "ablationcam", "scorecam", "lime"]
    assert default.attribution.lime.num_samples == 1000
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
    with pytest.raises(ConfigError, match="unknown method 'magiccam'; allowed: gradcam, ablationcam"):
        load_study(study)


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
    assert load_study(study).benchmarks == "no-such-dir"
