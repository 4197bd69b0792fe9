"""The faithfulness metrics (attribution/metrics/faithfulness/: road, faithfulness_correlation, infidelity,
pixel_flipping) against Quantus 0.6 (and captum for infidelity) on a tiny conv net, and by hand.

Same draws: Quantus draws with numpy's global generator; where the metric is random, the test hands Quantus our
draws (our subsets through a patched ``np.random.choice``, our Gaussian perturbations as its ``perturb_func``).
ROAD is compared with the imputation's noise at 0 (the noise is only added: its draws are checked apart).
The preprocessing is the identity (mean 0, std 1) and the image holds a black pixel, so Quantus's "black" (the
image's smallest value) is ours (pixel zeros, normalised).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xai_report.attribution.metrics.base import MetricInput
from xai_report.attribution.metrics.faithfulness import (faithfulness_correlation as fc, imputation, infidelity,
                                                         pixel_flipping, road)
from xai_report.errors import ConfigError
from xai_report.models.preprocess import Preprocess

quantus = pytest.importorskip("quantus")

SIDE = 16
IDENTITY = Preprocess(resize=SIDE, crop=SIDE, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _net(channels: int = 3, classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(channels, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(6, 6, 3, stride=2),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, classes)).eval()


def _image(channels: int = 3, side: int = SIDE) -> np.ndarray:
    x = np.random.default_rng(1).uniform(0, 1, size=(1, channels, side, side)).astype(np.float32)
    x[0, :, 0, 0] = 0.0  # a black pixel: Quantus's black is the image's minimum
    return x


def _maps(side: int = SIDE) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {"noise": rng.normal(size=(side, side)).astype(np.float32),
            "ramp": (np.arange(side * side, dtype=np.float32).reshape(side, side) / 100.0)}


def _inputs(model, x, maps, target=0) -> MetricInput:
    return MetricInput(model=model, x=torch.from_numpy(x), target=target, maps=maps, preprocess=IDENTITY,
                       batch_size=8)


def test_imputation_equals_quantus_and_keeps_a_linear_ramp():
    x = _image()[0].astype(np.float64)
    removed = np.random.default_rng(3).uniform(size=(SIDE, SIDE)) < 0.4
    ours = imputation.impute(x, removed, 0.0, np.zeros_like(x))
    theirs = quantus.functions.perturb_func.noisy_linear_imputation(x, np.flatnonzero(removed), noise=0.0)
    assert np.abs(ours - theirs).max() < 1e-9
    assert np.array_equal(ours[:, ~removed], x[:, ~removed])
    # By hand: an interior pixel of a linear ramp is the mean of its neighbours, so imputing it gives it back.
    ramp = np.broadcast_to(np.add.outer(np.arange(SIDE) * 2.0, np.arange(SIDE) * 0.5), (3, SIDE, SIDE)).copy()
    hole = np.zeros((SIDE, SIDE), bool)
    hole[5:8, 6:9] = True
    assert np.abs(imputation.impute(ramp, hole, 0.0, np.zeros_like(ramp)) - ramp).max() < 1e-9
    noisy = imputation.impute(ramp, hole, 0.5, np.ones_like(ramp))
    assert np.allclose(noisy[:, hole], ramp[:, hole] + 0.5) and np.array_equal(noisy[:, ~hole], ramp[:, ~hole])


def _halves() -> torch.nn.Module:
    """Grey images: class 0's logit is the left half's mean, class 1's the right half's plus 0.15."""
    linear = torch.nn.Linear(SIDE * SIDE, 2)
    weight = np.zeros((2, SIDE, SIDE), np.float32)
    weight[0, :, :SIDE // 2] = weight[1, :, SIDE // 2:] = 2 / (SIDE * SIDE)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight.reshape(2, -1)))
        linear.bias.copy_(torch.tensor([0.0, 0.15]))
    return torch.nn.Sequential(torch.nn.Flatten(), linear).eval()


def test_road_equals_quantus_morf_and_lerf():
    # Quantus's ROAD fails on colour images with one-channel maps (it indexes pixels with channel-broadcast
    # ranks), so the comparison runs on a grey image, brighter on the left: class 0 by a small margin, which the
    # imputations keep or lose (the curves mix ones and zeros).
    model, x, maps = _halves(), _image(channels=1), _maps()
    x[..., :SIDE // 2] = 0.4 + 0.6 * x[..., :SIDE // 2]
    maps["left"] = maps["noise"] + np.where(np.arange(SIDE) < SIDE // 2, 3.0, 0.0)[None, :]
    params = road.RoadParams(percentages=[10, 30, 50, 70, 90], noise=0.0)
    target = 0
    ours = road.road(_inputs(model, x, maps, target), params, seed=0)
    for method, saliency in maps.items():
        curves = []
        for sign in (1, -1):  # LeRF is MoRF of the negated map
            found = quantus.ROAD(percentages=params.percentages, noise=0.0, disable_warnings=True)(
                model=model, x_batch=x, y_batch=np.array([target]), a_batch=sign * saliency[None, None],
                device="cpu")
            curves.append([found[p] for p in params.percentages])
        assert list(ours[method].curve) == curves[0] + curves[1], method
        assert 0 < sum(ours[method].curve) < len(ours[method].curve), method
        assert ours[method].value == pytest.approx(np.mean(curves[1]) - np.mean(curves[0]))


def test_road_by_hand_and_same_seed_same_number():
    # A model that predicts class 0 whatever the input keeps it under every removal: MoRF = LeRF = 1, gap 0.
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[1.0, 0.0]]).expand(x.shape[0], 2) + 0 * x.sum()
    found = road.road(_inputs(Constant(), _image(), _maps()), road.RoadParams(percentages=[20, 80]), seed=0)
    assert found["noise"].value == 0.0 and found["noise"].curve == (1.0,) * 4
    model, x = _net(), _image()
    once = road.road(_inputs(model, x, _maps()), road.RoadParams(noise=0.3), seed=5)
    again = road.road(_inputs(model, x, _maps()), road.RoadParams(noise=0.3), seed=5)
    assert once == again


def test_faithfulness_correlation_equals_quantus(monkeypatch):
    model, x, maps = _net(), _image(), _maps()
    params = fc.FaithfulnessCorrelationParams(runs=20, subset_size=40)
    ours = fc.faithfulness_correlation(_inputs(model, x, maps), params, seed=4)
    drawn = fc.subsets(x[0].size, params.subset_size, params.runs, seed=4)
    for method, saliency in maps.items():
        rows = iter(drawn)
        monkeypatch.setattr(np.random, "choice", lambda n, size, replace: next(rows))
        theirs = quantus.FaithfulnessCorrelation(nr_runs=params.runs, subset_size=params.subset_size,
                                                 disable_warnings=True)(
            model=model, x_batch=x, y_batch=np.array([0]), a_batch=saliency[None, None], device="cpu")
        assert ours[method].value == pytest.approx(theirs[0], abs=1e-5), method


def test_faithfulness_correlation_by_hand():
    # A linear logit f(x) = sum w x with one weight per pixel shared by the channels, the map a = w * x (equal in
    # every channel): the evidence of a subset is exactly the logit's drop when it goes black, correlation 1.
    w = torch.from_numpy(np.random.default_rng(6).normal(size=(SIDE, SIDE)).astype(np.float32))
    linear = torch.nn.Linear(3 * SIDE * SIDE, 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[0] = w.repeat(3, 1, 1).reshape(-1)
    model = torch.nn.Sequential(torch.nn.Flatten(), linear).eval()
    x = np.broadcast_to(_image()[:, :1], (1, 3, SIDE, SIDE)).copy()
    found = fc.faithfulness_correlation(_inputs(model, x, {"exact": (w.numpy() * x[0, 0])}),
                                        fc.FaithfulnessCorrelationParams(runs=30, subset_size=20), seed=0)
    assert found["exact"].value == pytest.approx(1.0, abs=1e-5)


def test_infidelity_equals_captum_and_quantus():
    captum_metrics = pytest.importorskip("captum.metrics")
    model, x, maps = _net(), _image(), _maps()
    draws = infidelity.perturbations(x.shape[1:], 6, 0.2, seed=7)
    for normalize in (True, False):
        params = infidelity.InfidelityParams(samples=6, normalize=normalize)
        ours = infidelity.infidelity(_inputs(model, x, maps), params, seed=7)
        for method, saliency in maps.items():
            noise = torch.from_numpy(draws).float()

            def perturb(inputs):
                return noise, inputs - noise
            attributions = torch.from_numpy(np.broadcast_to(saliency, x.shape).copy())
            theirs = captum_metrics.infidelity(model, perturb, torch.from_numpy(x), attributions, target=0,
                                               n_perturb_samples=6, max_examples_per_batch=6, normalize=normalize)
            assert ours[method].value == pytest.approx(float(theirs), rel=1e-4), (method, normalize)
            if normalize:
                continue
            # Quantus with one patch the size of the image and our draws as its perturbation: the paper's setting.
            calls = iter(draws.reshape(6, 1, -1))
            theirs = quantus.Infidelity(perturb_patch_sizes=[SIDE], n_perturb_samples=6, disable_warnings=True,
                                        perturb_func=lambda arr, indices, **kw: arr - next(calls))(
                model=model, x_batch=x, y_batch=np.array([0]), a_batch=saliency[None, None], device="cpu")
            assert ours[method].value == pytest.approx(theirs[0], rel=1e-4), method


def test_infidelity_by_hand():
    # A linear logit f(x) = w . x and the map w (one weight per pixel, shared by the channels): the map predicts
    # every change exactly, infidelity 0; the map 2w without scaling misses by the change itself.
    w = np.random.default_rng(8).normal(size=(SIDE, SIDE))
    linear = torch.nn.Linear(3 * SIDE * SIDE, 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[0] = torch.from_numpy(np.tile(w, (3, 1, 1)).ravel()).float()
    model = torch.nn.Sequential(torch.nn.Flatten(), linear).eval()
    x = _image()
    maps = {"w": w.astype(np.float32), "2w": (2 * w).astype(np.float32)}
    scaled = infidelity.infidelity(_inputs(model, x, maps), infidelity.InfidelityParams(samples=5), seed=0)
    raw = infidelity.infidelity(_inputs(model, x, maps), infidelity.InfidelityParams(samples=5, normalize=False), 0)
    changes = infidelity.perturbations(x.shape[1:], 5, 0.2, 0).sum(axis=1).reshape(5, -1) @ w.ravel()
    assert scaled["w"].value == pytest.approx(0, abs=1e-6) and scaled["2w"].value == pytest.approx(0, abs=1e-6)
    assert raw["2w"].value == pytest.approx(float((changes ** 2).mean()), rel=1e-4)


def test_pixel_flipping_equals_quantus():
    # Quantus's features are the C x H x W values, and it wants H x W to be a multiple of the features per step:
    # at 12 x 12 px, 48 steps of 3 whole pixels are 9 features a step.
    model, x, maps = _net(), _image(side=12), _maps(side=12)
    params = pixel_flipping.PixelFlippingParams(steps=48)
    ours = pixel_flipping.pixel_flipping(_inputs(model, x, maps), params, seed=0)
    for method, saliency in maps.items():
        curve = quantus.PixelFlipping(features_in_step=3 * 12 * 12 // params.steps, disable_warnings=True)(
            model=model, x_batch=x, y_batch=np.array([0]), a_batch=saliency[None, None], device="cpu")[0]
        assert np.abs(np.array(ours[method].curve) - curve).max() < 1e-5, method
        assert ours[method].value == pytest.approx(np.trapezoid(curve, dx=1 / params.steps), abs=1e-5)


def test_pixel_flipping_by_hand():
    # Logits (sum of x over all values, 0) on an image of ones: after k of 4 steps 4k of the 16 pixels are black,
    # the logit is 3 * (16 - 4k), the probability sigmoid of it.
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0] = 0.1
        model[1].bias.zero_()
    x = np.ones((1, 3, 4, 4), np.float32)
    found = pixel_flipping.pixel_flipping(_inputs(model.eval(), x, {"m": np.arange(16.0).reshape(4, 4)}),
                                          pixel_flipping.PixelFlippingParams(steps=4), seed=0)
    expected = [1 / (1 + np.exp(-0.1 * 3 * (16 - 4 * k))) for k in range(1, 5)]
    assert np.allclose(found["m"].curve, expected, atol=1e-6)
    assert found["m"].value == pytest.approx(np.trapezoid(expected, dx=0.25), abs=1e-6)


@pytest.mark.parametrize("metric, table, key", [
    (road.METRIC, {"percentages": [0, 50]}, "metrics.road"),
    (road.METRIC, {"nois": 0.1}, "metrics.road.nois"),
    (fc.METRIC, {"runs": 1}, "metrics.faithfulness_correlation"),
    (infidelity.METRIC, {"noise": 0.0}, "metrics.infidelity"),
    (pixel_flipping.METRIC, {"steps": "64"}, "metrics.pixel_flipping.steps"),
])
def test_bad_parameters_are_one_line(metric, table, key):
    with pytest.raises(ConfigError) as error:
        metric.parameters(table)
    assert key in str(error.value) and "\n" not in str(error.value)
