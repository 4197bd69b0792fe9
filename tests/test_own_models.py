"""Your own model (issue 20): the timm, Hugging Face and python sources, the logits rule, token layers on a
grid (CAMs equal to grad-cam's own with the same reshape), labels from folders and CSVs, ``xai-report init``,
and one-line errors for bad input. Models are small, random and written in their real formats."""

import json
import re
import shutil
from functools import partial

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pytorch_grad_cam import AblationCAM, GradCAM
from pytorch_grad_cam.ablation_layer import AblationLayerVit
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.reshape_transforms import swinT_reshape_transform, vit_reshape_transform

from xai_report.attribution.methods.ablation_cam import FastAblationCAM
from xai_report.attribution.methods.cam import CamExplainer
from xai_report.attribution.methods.explainer import Settings
from xai_report.cli import main
from xai_report.data import load_rgb, prepare
from xai_report.errors import BadInput, ConfigError
from xai_report.models import load_model, resolve_layer
from xai_report.models.outputs import LogitsOutput, logits_of
from xai_report.models.tokens import layer_layout, layout_from_shape

from conftest import STUDY_IMAGES
from own_models import PHOTOS, SWIN_KWARGS, TIMM_NAMES, TOML_KWARGS, VIT_KWARGS, hf_folder, image_folder_layout, timm_file


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    return {"vit": timm_file(root / "vit.safetensors", "vit", **VIT_KWARGS),
            "swin": timm_file(root / "swin.pth", "swin", **SWIN_KWARGS), "hf": hf_folder(root / "hf")}


def timm_model(weights, family):
    return load_model({"source": "timm", "name": TIMM_NAMES[family], "file": str(weights[family]),
                       "kwargs": VIT_KWARGS if family == "vit" else SWIN_KWARGS})


def goldfish(model):
    return prepare(load_rgb(STUDY_IMAGES / PHOTOS["goldfish"]), model.preprocess)


# -- the logits rule ------------------------------------------------------------------------------------------


def test_logits_rule_key_attribute_first_tensor_or_one_line():
    from transformers.modeling_outputs import ImageClassifierOutput

    t = torch.ones(1, 3)
    assert logits_of(t) is t
    assert logits_of({"features": torch.zeros(1, 8), "logits": t}) is t  # the key wins over order
    assert logits_of(ImageClassifierOutput(logits=t)) is t
    assert logits_of(("text", t, torch.zeros(1))) is t  # else the first tensor
    with pytest.raises(BadInput, match="no tensor to use as logits"):
        logits_of(["a", "b"], "entry point x")
    wrapped = LogitsOutput(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)))
    assert resolve_layer(wrapped, "1") is wrapped.model[1]  # layers keep the wrapped model's names
    assert resolve_layer(wrapped, "model[1]") is wrapped.model[1]


# -- token layers -------------------------------------------------------------------------------------------------


def test_layouts_are_inferred_and_checked():
    vit = layout_from_shape((1, 17, 192), (64, 64))
    assert (vit.kind, vit.grid, vit.prefix, vit.channels) == ("tokens", (4, 4), 1, 192)
    assert layout_from_shape((1, 21, 8), (64, 64), prefix=5).grid == (4, 4)  # registers declared by the model
    assert layout_from_shape((1, 2, 3, 96), (64, 96), channels_last=True).grid == (2, 3)
    assert layout_from_shape((1, 16, 7, 7), (224, 224)).kind == "conv"
    x = torch.randn(2, 17, 192)
    assert torch.equal(vit.reshape(x), vit_reshape_transform(x, 4, 4))  # grad-cam's documented reshape
    with pytest.raises(ConfigError, match=r"cannot be put on a grid.*18 tokens minus 1 prefix"):
        layout_from_shape((1, 18, 8), (64, 64), prefix=1, where="layer 'x'")
    with pytest.raises(ConfigError, match=r"\(1, 1000\) is not a map or a sequence of tokens"):
        layout_from_shape((1, 1000), (64, 64))


@pytest.mark.parametrize("family", ["vit", "swin"])
def test_gradcam_on_token_layers_equals_the_librarys_bit_for_bit(weights, family):
    model = timm_model(weights, family)
    image = goldfish(model)
    layout = layer_layout(model.module, model.default_layer, image.tensor, model.prefix_tokens, model.channels_last)
    assert model.default_layer == {"vit": "blocks[-1].norm1", "swin": "layers[-1]"}[family]
    assert layout.grid == {"vit": (4, 4), "swin": (2, 2)}[family]
    layer = resolve_layer(model.module, model.default_layer)
    settings = Settings(32, layer, model.preprocess, torch.device("cpu"), 0, layout=layout)
    ours = CamExplainer(GradCAM, settings).explain(model.module, image, 1)
    h, w = layout.grid
    # grad-cam's documented reshapes; its Swin one takes tokens (N, h*w, C), timm 1.0's Swin gives (N, h, w, C).
    reshape = partial(vit_reshape_transform, height=h, width=w) if family == "vit" else \
        (lambda t: swinT_reshape_transform(t.flatten(1, 2), height=h, width=w))
    with GradCAM(model.module, [layer], reshape_transform=reshape) as cam:
        theirs = cam(input_tensor=image.tensor, targets=[ClassifierOutputTarget(1)])[0]
    assert np.array_equal(ours.map, theirs) and ours.map.max() > 0
    assert ours.fields["layer_layout"] == layout.describe()


def vit_last_block(weights):
    """The timm ViT, the goldfish prepared for it, and its last block's ``norm1`` as the CAM layer: the layout,
    the module and the explainer settings (CAM batch 64, CPU, seed 0)."""
    model = timm_model(weights, "vit")
    image = goldfish(model)
    layout = layer_layout(model.module, "blocks[-1].norm1", image.tensor, model.prefix_tokens)
    layer = resolve_layer(model.module, "blocks[-1].norm1")
    return model, image, layout, layer, Settings(64, layer, model.preprocess, torch.device("cpu"), 0, layout=layout)


def test_ablation_cam_on_a_vit_is_the_librarys_with_its_vit_ablation_layer(weights):
    model, image, layout, layer, settings = vit_last_block(weights)
    with pytest.warns(UserWarning, match="running the library's AblationCAM"):
        ours = CamExplainer(FastAblationCAM, settings, batched=True).explain(model.module, image, 3)
    with AblationCAM(model.module, [layer], reshape_transform=layout.reshape, ablation_layer=AblationLayerVit(),
                     batch_size=64) as cam:
        theirs = cam(input_tensor=image.tensor, targets=[ClassifierOutputTarget(3)])[0]
    assert np.array_equal(ours.map, theirs)
    assert "AblationLayerVit" in ours.fields["implementation"]


def test_our_score_cam_on_a_vits_grid_agrees_with_the_librarys(weights):
    from pytorch_grad_cam import ScoreCAM

    from xai_report.attribution.methods.score_cam import FastScoreCAM

    model, image, layout, layer, settings = vit_last_block(weights)
    ours = CamExplainer(FastScoreCAM, settings, batched=True).explain(model.module, image, 3)
    with ScoreCAM(model.module, [layer], reshape_transform=layout.reshape) as cam:
        cam.batch_size = 64
        theirs = cam(input_tensor=image.tensor, targets=[ClassifierOutputTarget(3)])[0]
    assert np.abs(ours.map - theirs).max() < 1e-4 and ours.fields["implementation"].startswith("FastScoreCAM")


# -- sources ------------------------------------------------------------------------------------------------------


def test_timm_source_records_its_preprocessing_and_classes(weights):
    model = timm_model(weights, "vit")
    pre = model.preprocess
    assert (pre.crop, pre.interpolation, pre.mean, pre.std) == (64, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert pre.resize == int(64 / 0.9)  # timm's crop_pct 0.9 for this model
    assert model.preprocess_source.startswith("timm resolve_model_data_config") and "img_size = 64" in model.preprocess_source
    assert model.class_names[1] == "goldfish" and model.wnids[1] == "n01443537"
    assert model.prefix_tokens == 1 and not model.channels_last


def test_huggingface_source_wraps_the_model_and_reads_its_processor(weights):
    model = load_model({"source": "huggingface", "name": str(weights["hf"])})
    assert model.class_names == ["goldfish", "flamingo"]
    assert isinstance(model.module, LogitsOutput) and model.module(torch.zeros(1, 3, 64, 64)).shape == (1, 2)
    assert (model.preprocess.resize, model.preprocess.crop, model.preprocess.mean) == ((64, 64), None, (0.5, 0.5, 0.5))
    assert model.preprocess_source == "AutoImageProcessor (ViTImageProcessor), applied as is"
    assert model.default_layer.endswith("[-1].layernorm_before") and model.prefix_tokens == 1


def test_python_entry_point_with_a_dict_output(tmp_path):
    (tmp_path / "net.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 4, 3)\n        self.fc = nn.Linear(4, 3)\n"
        "    def forward(self, x):\n        f = self.conv(x)\n        return {'features': f, 'logits': self.fc(f.mean((2, 3)))}\n"
        "def build():\n    torch.manual_seed(0)\n    return {'model': Net(), 'class_names': ['a', 'b', 'c'], 'preprocess': {'resize': 40, 'crop': 32}}\n"
        "def nothing():\n    return 3\n")
    model = load_model({"source": "python", "entry": f"{tmp_path / 'net.py'}:build"})
    assert model.class_names == ["a", "b", "c"] and model.preprocess.input_size == (32, 32)
    assert model.module(torch.zeros(2, 3, 32, 32)).shape == (2, 3) and resolve_layer(model.module, "conv")
    assert model.preprocess_source == "entry point"
    with pytest.raises(ConfigError, match=r"returned int, not an nn.Module"):
        load_model({"source": "python", "entry": f"{tmp_path / 'net.py'}:nothing"})


# -- studies: bad input gets one line ------------------------------------------------------------------------------


def _study(tmp_path, model_table, images=None, extra=""):
    images = images or image_folder_layout(tmp_path / "photos")
    path = tmp_path / "study.toml"
    path.write_text(f"""title = "t"\noffline = true\ndevice = "cpu"\noutput_dir = "out"\nsite_dir = "site_src"
[models.m]\n{model_table}\n[attribution]\nmodel = "m"\nimages = "{images.as_posix()}"\nmethods = ["gradcam"]
metrics = false\nrandomised_methods = []\n{extra}\n""")
    return path


def _one_line(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_bad_sources_stop_with_one_line_naming_the_key(tmp_path, weights):
    (tmp_path / "empty_hf").mkdir()
    (tmp_path / "broken.py").write_text("import no_such_package_xyz\n")
    cases = {
        'source = "timm"\nname = "vit_tiny_patch16_22"': r"models\.m\.name: unknown timm model .*closest: vit_tiny_patch16_224",
        'source = "timm"\nname = "vit_tiny_patch16_224"\nweights = "DEFAULT"': r"models\.m\.weights: not a key of source = \"timm\"",
        f'source = "huggingface"\nname = "{(tmp_path / "empty_hf").as_posix()}"': r"models\.m\.name: .*has no config\.json",
        f'source = "python"\nentry = "{(tmp_path / "broken.py").as_posix()}:build"': r"models\.m\.entry: .*does not import \(ModuleNotFoundError",
        'source = "python"': r"models\.m\.entry: required for source = \"python\"",
    }
    for table, pattern in cases.items():
        line = _one_line(["check", "--study", str(_study(tmp_path, table))])
        assert re.search(pattern, line), line


def test_bad_layers_and_labels_stop_before_compute_and_keep_what_was_built(tmp_path, weights):
    table = f'source = "timm"\nname = "vit_tiny_patch16_224"\nfile = "{weights["vit"].as_posix()}"\nkwargs = {TOML_KWARGS["vit"]}'
    study = _study(tmp_path, table)
    assert CliRunner().invoke(main, ["attribute", "--study", str(study)]).exit_code == 0
    results = (tmp_path / "out" / "results.json").read_bytes()
    line = _one_line(["attribute", "--study", str(_study(tmp_path, table, extra='layer = "blocks[-1].norm"'))])
    assert "attribution.layer: unknown layer 'blocks[-1].norm'" in line and "closest layers: blocks[1].norm2, blocks[1].norm1" in line
    line = _one_line(["attribute", "--study", str(_study(tmp_path, table, extra='layer = "head"'))])
    assert "attribution.layer: layer 'head': its output (1, 1000) is not a map or a sequence of tokens" in line
    (tmp_path / "photos" / "gold fish").mkdir()
    (tmp_path / "photos" / "goldfish" / PHOTOS["goldfish"]).rename(tmp_path / "photos" / "gold fish" / "x.JPEG")
    line = _one_line(["attribute", "--study", str(_study(tmp_path, table))])
    assert "label 'gold fish' is not a class of the model; closest class names: goldfish" in line
    assert (tmp_path / "out" / "results.json").read_bytes() == results  # nothing lost


def test_labels_from_a_csv_and_from_index_subfolders(tmp_path):
    from xai_report.labels import true_labels

    folder = tmp_path / "photos"
    (folder / "2").mkdir(parents=True)
    (folder / "2" / "a.jpg").write_bytes(b"")
    (folder / "b.jpg").write_bytes(b"")
    (folder / "n00000001_c.jpg").write_bytes(b"")
    files = [folder / "2" / "a.jpg", folder / "b.jpg", folder / "n00000001_c.jpg"]
    (tmp_path / "labels.csv").write_text("file,label\nb.jpg,beta\n")
    found = true_labels(folder, files, ["alpha", "beta", "gamma"], ["n00000000", "n00000001", "n00000002"],
                        str(tmp_path / "labels.csv"))
    assert {p.name: (l.index, l.source) for p, l in found.items()} == {
        "a.jpg": (2, "folder 2"), "b.jpg": (1, "labels.csv"), "n00000001_c.jpg": (1, "WordNet id n00000001")}
    (tmp_path / "labels.csv").write_text("file,label\nb.jpg,betta\n")
    with pytest.raises(BadInput, match=r"labels.csv, b.jpg: label 'betta' is not a class of the model; closest class names: beta"):
        true_labels(folder, files, ["alpha", "beta", "gamma"], [], str(tmp_path / "labels.csv"))


def test_init_writes_a_study_that_check_accepts(tmp_path, weights):
    image_folder_layout(tmp_path / "my_photos")
    out = tmp_path / "study.toml"
    args = ["init", "--source", "timm", "--name", "vit_tiny_patch16_224", "--file", str(weights["vit"]),
            "--images", str(tmp_path / "my_photos"), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert 'target = "label"' in text and "# layer = " in text and 'images = "my_photos"' in text
    check = CliRunner().invoke(main, ["check", "--study", str(out)])
    assert check.exit_code == 0 and "ok" in check.output, check.output
    assert "exists; pass another --out" in _one_line(args)


@pytest.mark.parametrize("family", ["vit", "swin", "hf"])
def test_token_head_contributions_plus_bias_equal_the_logit(weights, family):
    from xai_report.attribution import contributions
    from xai_report.attribution.token_head import find_token_head

    model = load_model({"source": "huggingface", "name": str(weights["hf"])}) if family == "hf" else timm_model(weights, family)
    x = goldfish(model).tensor
    head, features, norm = find_token_head(model.module, x, model.prefix_tokens or 0)
    assert features.startswith({"vit": "the 192 features of the class token", "swin": "the 192 features of the mean over the grid",
                                "hf": "the 48 features of the class token"}[family])
    assert norm == {"vit": "norm", "swin": "norm", "hf": "model.vit.layernorm"}[family]
    logits, values = contributions.forward_with_features(model.module, head, x)
    for c in (0, int(logits[0].argmax())):
        found = contributions.decompose(values, head.weight[c].detach().numpy(), float(head.bias[c].detach()))
        exact = float(np.sum(head.weight[c].detach().double().numpy() * values.astype(np.float64))) + float(head.bias[c].detach())
        assert abs(found["logit"] - float(logits[0, c])) < 1e-4 and abs(exact - float(logits[0, c])) < 1e-4
    assert isinstance(contributions.find_pooled_head(model.module, model.default_layer, x), str)  # not a CNN head


# -- dissection of token layers ------------------------------------------------------------------------------------


def test_pool_output_pools_tokens_by_token_pool():
    from xai_report.activations import pool_output

    out = torch.randn(2, 17, 8)
    assert torch.equal(pool_output(out, "mean", "cls", 1), out[:, 0])
    assert torch.equal(pool_output(out, "mean", "mean", 1), out[:, 1:].mean(1))
    assert torch.equal(pool_output(out, "mean", "max", 1), out[:, 1:].amax(1))


def test_dissection_of_a_vit_block_with_each_token_pool(tmp_path, weights):
    from conftest import DATA_DIR

    probe = tmp_path / "probe"
    probe.mkdir()
    for path in sorted((DATA_DIR / "probe" / "imagenet-samples").iterdir())[:40:2]:
        shutil.copy(path, probe / path.name)
    labels = {}
    for pool in ("cls", "mean", "max"):
        study = tmp_path / f"{pool}.toml"
        study.write_text(f"""title = "t"\noffline = true\ndevice = "cpu"\noutput_dir = "out_{pool}"\nsite_dir = "site_{pool}"
[models.vit]\nsource = "timm"\nname = "vit_tiny_patch16_224"\nfile = "{weights['vit'].as_posix()}"\nkwargs = {TOML_KWARGS['vit']}
[attribution]\nenabled = false
[dissection]\nenabled = true\nconcepts_source = "labels"\nwordnet_classes = "{(DATA_DIR / 'concepts' / 'imagenet_wordnet.csv').as_posix()}"
wordnet_ancestors = "{(DATA_DIR / 'concepts' / 'wordnet_ancestors.csv').as_posix()}"
models = ["vit"]\nlayers = ["blocks[-1]"]\nprobe = ["probe"]\ntop_k = 5\nbatch_size = 20\nstrip_images = 2\ntoken_pool = "{pool}"
""")
        result = CliRunner().invoke(main, ["build", "--study", str(study)])
        assert result.exit_code == 0, result.output
        section = json.loads((tmp_path / f"out_{pool}" / "results.json").read_text())["dissection"]
        layer = section["models"][0]["layers"][0]
        assert layer["neurons"] == 192 and layer["spatial"]  # strips and unit maps on the 4x4 patch grid
        rows = (tmp_path / f"out_{pool}" / "dissection").rglob("*.csv")
        labels[pool] = sorted(p.read_text() for p in rows)
        assert section["parameters"].get("token_pool", "cls") == pool
    assert labels["cls"] != labels["mean"] != labels["max"]  # each pooling reads other activations


@pytest.mark.parametrize("family", ["vit", "swin"])
def test_every_method_and_the_metrics_run_on_a_token_model(tmp_path, weights, family):
    from xai_report.attribution.stage import AttributionStage
    from xai_report.config import load_study
    from xai_report.store import ArtifactStore

    images = tmp_path / "photos"
    images.mkdir()
    shutil.copy(STUDY_IMAGES / PHOTOS["goldfish"], images)
    table = (f'source = "timm"\nname = "{TIMM_NAMES[family]}"\nfile = "{weights[family].as_posix()}"\n'
             f'kwargs = {TOML_KWARGS[family]}')
    study = _study(tmp_path, table, images, extra='methods = ["gradcam", "ablationcam", "scorecam", "lime", "rise"]\n'
                   "metrics = true\ndeletion_steps = 5\n[attribution.lime]\nnum_samples = 50")
    study.write_text(study.read_text().replace('methods = ["gradcam"]\nmetrics = false\n', ""))
    result = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert result.exit_code == 0, result.output
    section = json.loads((tmp_path / "out" / "results.json").read_text())["attribution"]
    image = section["images"][0]
    methods = ("gradcam", "ablationcam", "scorecam", "lime", "rise")
    assert set(image["metrics"]["faithfulness"]["methods"]) == set(methods)
    assert section["token_layer"]["implementations"]["rise"] == "needs no layer (model-agnostic)"
    grid = {"vit": (4, 4), "swin": (2, 2)}[family]
    stage = AttributionStage(load_study(study), ArtifactStore(tmp_path / "out" / "store"))
    layer = stage.settings.layer
    assert stage.bound.layer_hw(layer, torch.zeros(1, 3, 64, 64)) == grid  # the random baseline's maps: this grid
    assert image["neurons"]["features"].startswith("the 192 features of the")
    page = (tmp_path / "site_src" / "methodology" / "index.md").read_text()
    assert "The CAM layer is a token layer" in page and "AblationLayerVit" in page


def test_dissecting_a_swin_stops_with_one_line(tmp_path, weights):
    from conftest import DATA_DIR

    study = tmp_path / "swin.toml"
    study.write_text(f"""title = "t"\noffline = true\ndevice = "cpu"\noutput_dir = "out"\nsite_dir = "site_src"
[models.swin]\nsource = "timm"\nname = "{TIMM_NAMES['swin']}"\nfile = "{weights['swin'].as_posix()}"\nkwargs = {TOML_KWARGS['swin']}
[attribution]\nenabled = false
[dissection]\nenabled = true\nconcepts_source = "labels"\nmodels = ["swin"]\nlayers = ["layers[-1]"]
probe = ["{(DATA_DIR / 'probe' / 'imagenet-samples').as_posix()}"]
wordnet_classes = "{(DATA_DIR / 'concepts' / 'imagenet_wordnet.csv').as_posix()}"
wordnet_ancestors = "{(DATA_DIR / 'concepts' / 'wordnet_ancestors.csv').as_posix()}"
""")
    assert "dissection.models: swin outputs channels-last maps (a Swin)" in _one_line(["dissect", "--study", str(study)])
