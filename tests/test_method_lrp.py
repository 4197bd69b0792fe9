"""LRP (zennit): our exported map against zennit's own straightforward call, conservation where it holds, and the
one-line refusals (a module with no rule, an operation with no rule, parameters that do not apply)."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torchvision
from torch import nn
from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat
from zennit.torchvision import ResNetCanonizer

from xai_report.attribution.methods.explainer import Settings
from xai_report.attribution.methods.lrp import LrpExplainer, box_bounds
from xai_report.attribution.methods.lrp_canonizers import MergeNormAct, TimmResidual, canonizers
from xai_report.attribution.methods.registry import METHODS
from xai_report.data import PreparedImage
from xai_report.errors import ConfigError
from xai_report.models.preprocess import Preprocess

PRE = Preprocess(resize=64, crop=64, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def explainer(table: dict, preprocess: Preprocess = PRE) -> LrpExplainer:
    settings = Settings(1, nn.Identity(), preprocess, torch.device("cpu"), 0, {"lrp": table})
    return METHODS["lrp"].make(settings)


def image(size: int, seed: int = 0) -> PreparedImage:
    g = torch.Generator().manual_seed(seed)
    return PreparedImage(np.zeros((size, size, 3), np.float32), torch.randn(1, 3, size, size, generator=g))


def zennit_map(model: nn.Module, x: torch.Tensor, target: int, composite) -> np.ndarray:
    """zennit's straightforward call: the composite's context, the gradient with the one-hot output; times the logit
    (our map starts LRP from R = z_target, and LRP is linear in the output relevance)."""
    x = x.clone().requires_grad_(True)
    with composite.context(model) as modified:
        out = modified(x)
        one_hot = torch.eye(out.shape[1])[[target]]
        (grad,) = torch.autograd.grad(out, x, grad_outputs=one_hot)
    return (grad * out[0, target].detach())[0].sum(0).numpy()


def random_resnet10t() -> nn.Module:
    torch.manual_seed(0)
    # zero_init_last=False: timm zeroes each block's last batch-norm scale at init, which would leave the residual
    # branches without relevance (and the residual canonizer untested).
    return timm.create_model("resnet10t", pretrained=False, num_classes=10, zero_init_last=False).eval()


def test_lrp_equals_zennit_on_efficientnet_lite0(effnet):
    loaded = effnet
    model, pre = loaded.module, loaded.preprocess
    img = image(32)
    ours = explainer({}, pre).explain(model, img, 1).map
    reference = zennit_map(model, img.tensor, 1, EpsilonPlusFlat(canonizers=[ResNetCanonizer(), MergeNormAct(),
                                                                             TimmResidual()]))
    assert ours.shape == (32, 32) and ours.dtype == np.float32 and np.abs(reference).max() > 0
    assert np.abs(ours - reference).max() <= 1e-5 * np.abs(reference).max()


@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_gamma_box"])
def test_lrp_equals_zennit_on_timm_resnet(composite):
    model, img = random_resnet10t(), image(32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ours = explainer({"composite": composite}).explain(model, img, 3).map
    after = model.state_dict()  # the canonizers put every parameter back, bit for bit
    assert after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in before)
    if composite == "epsilon_gamma_box":
        low, high = box_bounds(PRE, tuple(img.tensor.shape))
        reference_composite = EpsilonGammaBox(low=low, high=high, canonizers=canonizers())
    else:
        reference_composite = EpsilonPlusFlat(canonizers=canonizers())
    reference = zennit_map(model, img.tensor, 3, reference_composite)
    assert np.abs(ours - reference).max() <= 1e-5 * np.abs(reference).max()


def test_lrp_equals_zennit_with_its_own_torchvision_canonizer():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    img = image(32)
    ours = explainer({}).explain(model, img, 2).map
    reference = zennit_map(model, img.tensor, 2, EpsilonPlusFlat(canonizers=[ResNetCanonizer()]))
    assert np.abs(ours - reference).max() <= 1e-5 * np.abs(reference).max()


def test_relevance_is_conserved_on_a_canonized_resnet():
    """EpsilonPlusFlat on a network whose only bias is the classifier's (timm's random init: convolutions without
    bias, identity batch norms): z+ and flat conserve relevance, epsilon keeps z_c · (z_c - b_c) / (z_c + ε), so the
    map sums to z_c - b_c (within 1e-4 of |z_c|). Without the residual canonizer each addition doubles it."""
    model, img = random_resnet10t(), image(32, seed=1)
    with torch.no_grad():
        z = model(img.tensor)[0, 3].item()
    bias = model.fc.bias[3].item()
    total = float(explainer({}).explain(model, img, 3).map.sum(dtype=np.float64))
    assert abs(total - (z - bias)) <= 1e-4 * max(1.0, abs(z))
    from zennit.canonizers import SequentialMergeBatchNorm
    doubled = zennit_map(model, img.tensor, 3, EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])).sum()
    assert abs(doubled - (z - bias)) > 0.5 * abs(z - bias)


def test_box_bounds_are_pixels_zero_and_one_normalised():
    low, high = box_bounds(Preprocess(resize=8, crop=8, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0)), (1, 3, 2, 2))
    assert low[0, :, 0, 0].tolist() == [-1.0, -1.0, 0.0] and high[0, :, 1, 1].tolist() == [1.0, 3.0, 1.0]


class Gated(nn.Module):
    """A squeeze-excitation-like gate: a product of two computed tensors outside any module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.pool, self.fc = nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Linear(4, 5)

    def forward(self, x):
        h = self.conv(x)
        return self.fc(self.pool(h * torch.sigmoid(h)).flatten(1))


def test_lrp_refuses_a_module_without_a_rule_in_one_line():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 5)).eval()
    with pytest.raises(ConfigError) as err:
        explainer({}).explain(model, image(16), 0)
    assert "1 (GroupNorm)" in str(err.value) and "\n" not in str(err.value)


def test_lrp_refuses_arithmetic_without_a_rule_in_one_line():
    with pytest.raises(ConfigError) as err:
        explainer({}).explain(Gated().eval(), image(16), 0)
    assert "the model (mul)" in str(err.value) and "\n" not in str(err.value)


def test_lrp_parameters_are_checked():
    with pytest.raises(ConfigError, match=r"attribution\.lrp\.gamma: applies to"):
        explainer({"gamma": 0.5})
    with pytest.raises(ConfigError, match="attribution.lrp"):
        explainer({"composite": "epsilon"})
    assert explainer({"composite": "epsilon_gamma_box", "gamma": 0.5}).params()["gamma"] == 0.5


def test_lrp_through_the_stage_cached_and_attention_refused_for_a_cnn(tmp_path, image_folder):
    """The tiny CNN through the attribution stage with lrp and the randomised check: a float32 map at the input
    resolution, the settings line on the methodology page; a second build computes nothing; an attention method on
    the CNN stops with one line when the study is bound, before any compute."""
    from conftest import tiny_loaded_model, write_study
    from xai_report.attribution.stage import AttributionStage
    from xai_report.config import load_study
    from xai_report.store import ArtifactStore

    study = load_study(write_study(tmp_path, image_folder, methods=("lrp",), layer="features", randomised=True))
    store = ArtifactStore(study.output_path / "store")
    section = AttributionStage(study, store, model=tiny_loaded_model(0)).run()
    record = section["images"][0]
    lrp_map = np.load(tmp_path / "out" / record["methods"]["lrp"]["map"])
    assert lrp_map.shape == (32, 32) and lrp_map.dtype == np.float32 and np.abs(lrp_map).sum() > 0
    assert "randomised" in record
    assert next(m for m in section["methods"] if m["name"] == "lrp")["settings"]  # its row on the methodology page
    again = AttributionStage(study, store, model=tiny_loaded_model(0))
    again.run()
    assert again.stats.computed == 0
    (tmp_path / "b").mkdir()
    bad = load_study(write_study(tmp_path / "b", image_folder, methods=("rollout",), layer="features"))
    with pytest.raises(ConfigError) as err:
        AttributionStage(bad, ArtifactStore(bad.output_path / "store"), model=tiny_loaded_model(0))
    assert "rollout explains transformers" in str(err.value) and "\n" not in str(err.value)


def test_the_maps_keys_follow_the_code_that_runs():
    """The modules that compute LRP and the attention maps are in their cache keys' closure (zennit as a library)."""
    from xai_report.attribution.methods.explainer import explained
    from xai_report.fingerprint import code_closure
    from xai_report.models.tokens import TokenLayout

    ours, third = code_closure((explained, *explainer({}).runs))
    assert {"xai_report.attribution.methods.lrp", "xai_report.attribution.methods.lrp_canonizers",
            "xai_report.attribution.methods.lrp_coverage"} <= set(ours) and "zennit" in str(third)
    tokens = Settings(1, nn.Identity(), PRE, torch.device("cpu"), 0, {}, TokenLayout("tokens", (2, 2), 8, 1))
    for method, module in (("rollout", "attention_rollout"), ("attentiongrad", "attention_gradient")):
        ours, _ = code_closure((explained, *METHODS[method].make(tokens).runs))
        assert {f"xai_report.attribution.methods.{module}", "xai_report.attribution.methods.attention_weights"} <= set(ours)
