"""The captum methods (issue 24): each exported map equals captum's own call with the same parameters (written out
here, independently of the adapter), on EfficientNet-Lite0 with its real weights and a timm ResNet with random
weights; Integrated Gradients' completeness; the batch size changes no map beyond float noise; the DeepLift and
Guided Backprop model checks, corrected copy and one-line refusal."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from captum import attr
from torch import nn
from torch.nn import functional as F

from xai_report.attribution.methods.baselines import baseline, probe_files, probe_photos
from xai_report.attribution.methods.explainer import Settings
from xai_report.attribution.methods.kernel_shap import mean_colours
from xai_report.attribution.methods.registry import METHODS
from xai_report.data import load_rgb, prepare
from xai_report.errors import ConfigError
from xai_report.models import Preprocess
from xai_report.paths import DATA_DIR

from conftest import STUDY_IMAGES, TinyNet

SEED = 0
CHEAP = {"integratedgradients": {"steps": 8}, "smoothgrad": {"samples": 4}, "gradientshap": {"samples": 4, "baselines": 3},
         "expectedgradients": {"samples": 4, "probe_images": 3}, "occlusion": {"window": 56, "stride": 56},
         "kernelshap": {"samples": 16}, "lime": {"kernel_size": 4.0, "max_dist": 200.0}}


class Case:
    """A model, its preprocessing, its CAM layer and one photo as it sees it."""

    def __init__(self, module: nn.Module, pre: Preprocess, layer: str, photo: str = "n01443537_goldfish.JPEG",
                 tables: dict | None = None):
        self.module, self.pre, self.layer = module.eval(), pre, layer
        self.tables = CHEAP if tables is None else tables
        self.image = prepare(load_rgb(STUDY_IMAGES / photo), pre)
        self.x = self.image.tensor
        with torch.no_grad():
            self.target = int(self.module(self.x).argmax())

    def settings(self, batch_size: int = 64, tables: dict | None = None) -> Settings:
        return Settings(batch_size, self.module.get_submodule(self.layer), self.pre, torch.device("cpu"), SEED,
                        method_tables=self.tables if tables is None else tables)

    def ours(self, name: str, **kw) -> np.ndarray:
        explainer = METHODS[name].make(self.settings(**kw))
        return explainer.explain(self.module, self.image, self.target)


@pytest.fixture(scope="module")
def lite() -> Case:
    from xai_report.models import load_model

    loaded = load_model({"source": "packaged"}, offline=True)
    # The real weights at a 64 px crop (the network is convolutional with a global pool): a twelfth of 224 px's cost.
    return Case(loaded.module, replace(loaded.preprocess, resize=73, crop=64), "bn2",
                tables={**CHEAP, "occlusion": {"window": 16, "stride": 16}})


@pytest.fixture(scope="module")
def resnet() -> Case:
    timm = pytest.importorskip("timm")
    torch.manual_seed(1)
    return Case(timm.create_model("resnet10t", pretrained=False, num_classes=10),
                Preprocess(resize=36, crop=32, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)), "layer4",
                tables={**CHEAP, "occlusion": {"window": 8, "stride": 8}, "lime": {"kernel_size": 2.0, "max_dist": 20.0}})


def channel_sum(t: torch.Tensor) -> np.ndarray:
    return t.detach()[0].double().sum(0).numpy().astype(np.float32)


def not_inplace(model: nn.Module, relu6: bool = False) -> nn.Module:
    """The test's own corrected copy: activations not in place; ReLU6 (for Guided Backprop) as an nn.ReLU."""

    class ReLU6AsReLU(nn.ReLU):
        def forward(self, x):
            return F.relu6(x)

    fixed = copy.deepcopy(model)
    for name, module in list(fixed.named_modules()):
        if isinstance(module, nn.ReLU6) and relu6:
            parent, _, child = name.rpartition(".")
            setattr(fixed.get_submodule(parent), child, ReLU6AsReLU())
        elif isinstance(module, nn.ReLU):
            module.inplace = False
    return fixed


def reference(case: Case, name: str) -> np.ndarray:
    """captum's own call for ``name`` at the CHEAP parameters, its map reduced as the method exports it."""
    m, x, t, pre = case.module, case.x, case.target, case.pre
    black = (torch.zeros_like(x) - torch.tensor(pre.mean).view(1, 3, 1, 1)) / torch.tensor(pre.std).view(1, 3, 1, 1)
    if name == "saliency":
        return attr.Saliency(m).attribute(x, target=t, abs=True)[0].amax(0).numpy()
    if name == "inputxgradient":
        return channel_sum(attr.InputXGradient(m).attribute(x, target=t))
    if name == "integratedgradients":
        return channel_sum(attr.IntegratedGradients(m).attribute(x, baselines=black, target=t, n_steps=8))
    if name == "smoothgrad":
        torch.manual_seed(SEED)
        stdev = 0.15 * float(x.max() - x.min())
        return channel_sum(attr.NoiseTunnel(attr.Saliency(m)).attribute(
            x, nt_type="smoothgrad", nt_samples=4, stdevs=stdev, target=t, abs=False))
    if name in ("gradientshap", "expectedgradients"):
        if name == "gradientshap":
            refs = (torch.rand((3,) + tuple(x.shape[1:]), generator=torch.Generator().manual_seed(SEED)) -
                    torch.tensor(pre.mean).view(1, 3, 1, 1)) / torch.tensor(pre.std).view(1, 3, 1, 1)
        else:
            refs = probe_photos(probe_files(DATA_DIR / "probe" / "imagenet-val", 3, SEED), pre, torch.device("cpu"))
        np.random.seed(SEED)
        torch.manual_seed(SEED)
        return channel_sum(attr.GradientShap(m).attribute(x, baselines=refs, n_samples=4, stdevs=0.0, target=t))
    if name == "guidedbackprop":
        return channel_sum(attr.GuidedBackprop(not_inplace(m, relu6=True)).attribute(x, target=t))
    if name == "guidedgradcam":
        fixed = not_inplace(m, relu6=True)
        return channel_sum(attr.GuidedGradCam(fixed, fixed.get_submodule(case.layer)).attribute(x, target=t))
    if name == "deeplift":
        return channel_sum(attr.DeepLift(not_inplace(m)).attribute(x, baselines=black, target=t))
    if name == "occlusion":
        mean = torch.zeros_like(x)
        w, s = case.tables["occlusion"]["window"], case.tables["occlusion"]["stride"]
        return channel_sum(attr.Occlusion(m).attribute(x, sliding_window_shapes=(3, w, w), strides=(3, s, s),
                                                       baselines=mean, target=t))
    if name == "kernelshap":
        from lime.wrappers.scikit_image import SegmentationAlgorithm

        lime = case.tables["lime"]
        segments = SegmentationAlgorithm("quickshift", kernel_size=lime["kernel_size"], max_dist=lime["max_dist"], ratio=0.2,
                                         random_seed=SEED)(case.image.rgb.astype(np.float64))
        hidden = prepare_hidden(case, segments)
        torch.manual_seed(SEED)
        found = attr.KernelShap(lambda v: torch.softmax(m(v), 1)).attribute(
            x, baselines=hidden, target=t, feature_mask=torch.as_tensor(segments)[None, None], n_samples=16)
        return found[0, 0].numpy()
    raise AssertionError(name)


def prepare_hidden(case: Case, segments: np.ndarray) -> torch.Tensor:
    """LIME's hidden image, as the lime package builds it (each superpixel its mean colour), normalised."""
    rgb = case.image.rgb.astype(np.float64)
    fudged = np.zeros_like(rgb)
    for s in np.unique(segments):
        for c in range(3):
            fudged[segments == s, c] = rgb[segments == s, c].mean()
    pixels = torch.as_tensor(fudged, dtype=torch.float32).permute(2, 0, 1)[None]
    return (pixels - torch.tensor(case.pre.mean).view(1, 3, 1, 1)) / torch.tensor(case.pre.std).view(1, 3, 1, 1)


CAPTUM = ["saliency", "inputxgradient", "integratedgradients", "smoothgrad", "gradientshap", "expectedgradients",
          "guidedbackprop", "guidedgradcam", "deeplift", "occlusion", "kernelshap"]


@pytest.mark.parametrize("name", CAPTUM)
def test_map_equals_captum_on_resnet(resnet, name):
    found = resnet.ours(name)
    expected = reference(resnet, name)
    assert found.map.shape == (32, 32) and found.map.dtype == np.float32
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert np.abs(found.map - expected).max() <= 1e-5 * max(scale, 1.0), name


@pytest.mark.parametrize("name", [n for n in CAPTUM if n != "deeplift"])
def test_map_equals_captum_on_efficientnet_lite0(lite, name):
    found = lite.ours(name)
    expected = reference(lite, name)
    assert found.map.shape == (64, 64)
    assert np.abs(found.map - expected).max() <= 1e-5 * max(float(np.abs(expected).max()), 1.0), name


def test_kernelshap_regions_are_limes_superpixels(lite):
    found = lite.ours("kernelshap")
    from xai_report.attribution.methods.lime_explainer import explain_lime

    lime = explain_lime(lite.module, lite.image.rgb, lite.pre, lite.target, num_samples=10, seed=SEED)
    assert np.array_equal(found.regions.segments, lime.segments)
    assert set(found.regions.weights) == set(np.unique(lime.segments).tolist())


def test_integrated_gradients_completeness_at_default_steps(lite):
    """|Σ map - (f(x) - f(black))| <= 2% of |f(x) - f(black)|, f = the explained class's logit (before softmax);
    EfficientNet-Lite0 at 96 px, its real weights."""
    lite = Case(lite.module, replace(lite.pre, resize=110, crop=96), "bn2")
    found = lite.ours("integratedgradients", tables={})
    black = baseline("black", lite.x, lite.pre, SEED)
    with torch.no_grad():
        gap = float(lite.module(lite.x)[0, lite.target] - lite.module(black)[0, lite.target])
    total = float(found.map.astype(np.float64).sum())
    assert abs(total - gap) <= 0.02 * abs(gap), (total, gap)
    assert found.fields["convergence_delta"] == pytest.approx(total - gap, abs=1e-3 * abs(gap))


@pytest.mark.parametrize("name", ["integratedgradients", "smoothgrad", "gradientshap", "occlusion", "kernelshap"])
def test_batch_size_changes_no_map(name):
    torch.manual_seed(0)
    case = Case(TinyNet(), Preprocess(resize=40, crop=32, mean=(0.5,) * 3, std=(0.25,) * 3), "features")
    tables = {**CHEAP, "occlusion": {"window": 8, "stride": 4}, "lime": {"kernel_size": 2.0, "max_dist": 20.0}}
    one = case.ours(name, batch_size=1, tables=tables).map
    many = case.ours(name, batch_size=64, tables=tables).map
    assert np.abs(one).max() > 0
    np.testing.assert_allclose(one, many, rtol=0, atol=1e-5 * float(np.abs(many).max()))


class Reused(nn.Module):
    """One ReLU instance called twice (captum #1082)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(self.act(self.conv2(self.act(self.conv1(x)))).mean((2, 3)))


class Separate(Reused):
    """The same network with one ReLU per call."""

    def __init__(self):
        super().__init__()
        self.act2 = nn.ReLU()

    def forward(self, x):
        return self.fc(self.act2(self.conv2(self.act(self.conv1(x)))).mean((2, 3)))


class Functional(Reused):
    def forward(self, x):
        return self.fc(F.relu(self.conv2(self.act(self.conv1(x)))).mean((2, 3)))


def _tiny_case(module: nn.Module) -> Case:
    return Case(module, Preprocess(resize=20, crop=16, mean=(0.5,) * 3, std=(0.25,) * 3), "conv2")


@pytest.mark.parametrize("name", ["deeplift", "guidedbackprop"])
def test_reused_activation_runs_on_a_corrected_copy(name):
    torch.manual_seed(3)
    reused = Reused()
    separate = Separate()
    separate.load_state_dict(reused.state_dict(), strict=False)
    case = _tiny_case(reused)
    found = case.ours(name, tables={}).map
    x, t = case.x, case.target
    black = (torch.zeros_like(x) - 0.5) / 0.25
    if name == "deeplift":
        expected = channel_sum(attr.DeepLift(separate).attribute(x, baselines=black, target=t))
        with pytest.raises(RuntimeError, match="used more than once"):  # captum alone refuses it
            attr.DeepLift(reused).attribute(x, baselines=black, target=t)
    else:
        expected = channel_sum(attr.GuidedBackprop(separate).attribute(x, target=t))
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["deeplift", "guidedbackprop", "guidedgradcam"])
def test_functional_activation_stops_with_one_line(name):
    case = _tiny_case(Functional())
    with pytest.raises(ConfigError) as err:
        case.ours(name, tables={})
    assert "\n" not in str(err.value) and "module 'model'" not in str(err.value)
    assert str(err.value).startswith(f"method {name}: the forward of module 'Functional'")


def test_deeplift_refuses_relu6_with_one_line(lite):
    with pytest.raises(ConfigError, match=r"^method deeplift: module 'bn1.act' is a ReLU6"):
        lite.ours("deeplift")


def test_corrected_copy_keeps_the_logits(lite):
    from xai_report.attribution.methods.relu_check import corrected

    fixed = corrected(lite.module, lite.x, "guidedbackprop", relu6=True)
    assert fixed is not lite.module
    assert not any(getattr(m, "inplace", False) for m in fixed.modules())
    with torch.no_grad():
        assert torch.equal(fixed(lite.x), lite.module(lite.x))
    # captum alone on the original treats ReLU6 as a plain gradient: different maps
    plain = channel_sum(attr.GuidedBackprop(not_inplace(lite.module)).attribute(lite.x, target=lite.target))
    assert np.abs(plain - reference(lite, "guidedbackprop")).max() > 1e-3


def test_mean_colours_is_limes_hidden_image(lite):
    segments = np.arange(64 * 64).reshape(64, 64) // 500
    hidden = prepare_hidden(lite, segments)
    ours = torch.as_tensor(mean_colours(lite.image.rgb.astype(np.float64), segments), dtype=torch.float32)
    ours = (ours.permute(2, 0, 1)[None] - 0.5) / 0.5
    assert torch.allclose(ours, hidden, atol=1e-6)


def test_kernelshap_on_one_superpixel_is_the_whole_drop():
    """An image quickshift leaves in one piece: its one weight is f(x) - f(hidden), f = the class's probability."""
    torch.manual_seed(0)
    case = Case(TinyNet(), Preprocess(resize=40, crop=32, mean=(0.5,) * 3, std=(0.25,) * 3), "features",
                photo="n07747607_orange.JPEG", tables={})  # quickshift at its defaults: one piece
    found = case.ours("kernelshap")
    assert len(found.regions.weights) == 1
    (segment,) = found.regions.weights
    hidden = prepare_hidden(case, found.regions.segments)
    with torch.no_grad():
        p = torch.softmax(case.module(torch.cat([case.x, hidden])), 1)[:, case.target]
    assert found.regions.weights[segment] == pytest.approx(float(p[0] - p[1]), abs=1e-6)
