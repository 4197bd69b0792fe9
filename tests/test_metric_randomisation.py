"""MPRT, sMPRT, eMPRT and Random Logit (attribution/metrics/randomisation/) against Quantus 0.6 and by hand.

Same weights: our cascade re-draws each layer after ``torch.manual_seed(seed + 1)`` as Quantus's
``get_random_layer_generator`` does, so Quantus given the same ``seed`` randomises to the same weights. Same draws:
sMPRT's noise (Quantus: ``np.random.randn``) and Random Logit's class (Quantus: ``np.random.randint`` after
``np.random.seed``) are replaced, for the Quantus call only, by our draws from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from rerun_fixtures import RUNS, first_channel, quantus_explain, state, tiny_inputs, tiny_model, unchanged
from xai_report.attribution.metrics.randomisation import cascade, efficient_mprt, mprt, random_logit, smooth_mprt
from xai_report.errors import ConfigError

quantus = pytest.importorskip("quantus")
SEED = 4
EVERY_LAYER = 20


def _call(metric, inputs, method, a_batch):
    return metric(model=inputs.model, x_batch=inputs.x.numpy(), y_batch=np.array([inputs.target]),
                  a_batch=a_batch[None, None].copy(), device="cpu", explain_func=quantus_explain(RUNS[method]))


def test_mprt_equals_quantus_layer_by_layer():
    model = tiny_model()
    before = state(model)
    inputs = tiny_inputs(model)
    params = mprt.MPRTParams(layer_order="top_down", depth=EVERY_LAYER)
    ours = mprt.mprt(inputs, params, SEED)
    names = [name for name, _ in cascade.steps(model, "top_down", EVERY_LAYER)]
    assert names == ["fc", "features.3", "features.0"]
    for method in RUNS:
        theirs = _call(quantus.MPRT(seed=SEED, disable_warnings=True), inputs, method, inputs.maps[method])
        assert list(theirs)[1:] == names
        assert ours[method].curve == pytest.approx([theirs[n][0] for n in names], abs=1e-6), method
        assert ours[method].value == ours[method].curve[-1]
    assert unchanged(model, before)


def test_mprt_blocks_end_where_layers_end():
    # Grouping layers into blocks changes the steps, not the fully randomised model: the last similarity is equal.
    model = tiny_model()
    inputs = tiny_inputs(model)
    blocks = mprt.mprt(inputs, mprt.MPRTParams(depth=1), SEED)
    layers = mprt.mprt(inputs, mprt.MPRTParams(depth=EVERY_LAYER), SEED)
    assert [n for n, _ in cascade.steps(model, "top_down", 1)] == ["fc", "features"]
    for method in RUNS:
        assert len(blocks[method].curve) == 2 and len(layers[method].curve) == 3
        assert blocks[method].value == pytest.approx(layers[method].value, abs=1e-9)


def test_mprt_by_hand():
    # A map that ignores the weights is the same map at every step: similarity 1 throughout (the test's failure).
    model = tiny_model()
    inputs = tiny_inputs(model, runs={"identity": first_channel, "saliency": RUNS["saliency"]}, without=("none",))
    found = mprt.mprt(inputs, mprt.MPRTParams(), SEED)
    assert found["identity"].curve == pytest.approx((1.0, 1.0, 1.0))
    assert found["saliency"].value < 0.9
    gone = mprt.mprt(tiny_inputs(model, without=("gradcam",)), mprt.MPRTParams(), SEED)["gradcam"]
    assert gone.value is None and gone.reason.startswith("not re-run")


class Bare(torch.nn.Module):
    """A linear model whose weight no submodule with ``reset_parameters`` owns: nothing to randomise."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 3 * 32 * 32, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return x.flatten(1) @ self.w.T


@pytest.mark.parametrize("compute, params", [(mprt.mprt, mprt.MPRTParams()),
                                             (smooth_mprt.smooth_mprt, smooth_mprt.SmoothMPRTParams(nr_samples=2)),
                                             (efficient_mprt.efficient_mprt, efficient_mprt.EfficientMPRTParams())])
def test_nothing_to_randomise_says_why(compute, params):
    found = compute(tiny_inputs(Bare(), runs={"saliency": RUNS["saliency"]}), params, SEED)["saliency"]
    assert found.value is None and "reset_parameters" in found.reason


def test_smooth_mprt_equals_quantus(monkeypatch):
    model = tiny_model()
    before = state(model)
    inputs = tiny_inputs(model)
    params = smooth_mprt.SmoothMPRTParams(nr_samples=2, depth=EVERY_LAYER)
    ours = smooth_mprt.smooth_mprt(inputs, params, SEED)
    names = [name for name, _ in cascade.steps(model, "bottom_up", EVERY_LAYER)]
    for method, run in RUNS.items():
        # Quantus smooths with quantus.explain, not with explain_func: route it to the same method. Given a_batch
        # (our smoothed trained map, the first draws), Quantus's "original" re-draws those first draws and its
        # layers the next ones, as we do.
        stream = np.random.default_rng(SEED)
        original = smooth_mprt.smoothed(run, model, inputs.x, inputs.target,
                                        smooth_mprt.noises(inputs.x, params, np.random.default_rng(SEED)))
        with monkeypatch.context() as patch:
            patch.setattr(np.random, "randn", lambda *shape: stream.standard_normal(shape))
            patch.setattr(quantus, "explain", lambda model, inputs, targets, **kw: quantus_explain(run)(
                model, inputs, targets))
            metric = quantus.SmoothMPRT(seed=SEED, nr_samples=2, noise_magnitude=0.1, disable_warnings=True)
            theirs = _call(metric, inputs, method, original)
        assert list(theirs)[1:] == names
        assert theirs["original"][0] == pytest.approx(1.0, abs=1e-6)
        assert ours[method].curve == pytest.approx([theirs[n][0] for n in names], abs=1e-5), method
    assert unchanged(model, before)


def test_efficient_mprt_equals_quantus():
    model = tiny_model()
    before = state(model)
    inputs = tiny_inputs(model)
    ours = efficient_mprt.efficient_mprt(inputs, efficient_mprt.EfficientMPRTParams(), SEED)
    for method in RUNS:
        theirs = _call(quantus.EfficientMPRT(seed=SEED, disable_warnings=True), inputs, method, inputs.maps[method])
        assert ours[method].value == pytest.approx(theirs[0], abs=1e-9), method
    assert unchanged(model, before)


def test_efficient_mprt_by_hand():
    # Half the pixels 0, half 1: two full bins of 100, entropy ln 2.
    assert efficient_mprt.discrete_entropy(np.repeat([0.0, 1.0], 8), 100) == pytest.approx(np.log(2))
    # A map that ignores the weights keeps its entropy: no rise, 0.
    inputs = tiny_inputs(tiny_model(), runs={"identity": first_channel})
    assert efficient_mprt.efficient_mprt(inputs, efficient_mprt.EfficientMPRTParams(), 0)["identity"].value == 0.0


def _ssim_2d(a, b, batched=True):
    side = int(round(np.sqrt(a.shape[-1])))
    pairs = [(x.reshape(side, side), y.reshape(side, side)) for x, y in zip(a, b)]
    return [structural_similarity(x, y, data_range=float(max(x.max(), y.max()) - min(x.min(), y.min())))
            for x, y in pairs]


def test_random_logit_equals_quantus_in_2d(monkeypatch):
    # Quantus's default SSIM runs on the flattened maps; the paper's (and ours) on the images: Quantus is given the
    # 2-D SSIM. With its default 1-D SSIM the numbers differ (the last assertion). (Model seed 2: Grad-CAM is not
    # all zeros for any class, which Quantus refuses.)
    model = tiny_model(2)
    inputs = tiny_inputs(model)
    ours = random_logit.random_logit(inputs, random_logit.NoParams(), SEED)
    other = random_logit.other_class(4, inputs.target, SEED)
    index = other if other < inputs.target else other - 1
    for method in RUNS:
        with monkeypatch.context() as patch:
            patch.setattr(np.random, "randint", lambda low, high, size: np.full(size, index))
            theirs = _call(quantus.RandomLogit(num_classes=4, seed=SEED, similarity_func=_ssim_2d,
                                               disable_warnings=True), inputs, method, inputs.maps[method])
            flat = _call(quantus.RandomLogit(num_classes=4, seed=SEED, disable_warnings=True),
                         inputs, method, inputs.maps[method])
        assert ours[method].value == pytest.approx(theirs[0], abs=1e-6), method
        print(method, "2-D", ours[method].value, "Quantus's 1-D", flat[0])
        assert abs(ours[method].value - flat[0]) > 1e-5, method


def test_random_logit_by_hand():
    # A map that ignores the class is the same for the other class: SSIM 1.
    inputs = tiny_inputs(tiny_model(), runs={"identity": first_channel})
    assert random_logit.random_logit(inputs, random_logit.NoParams(), 0)["identity"].value == pytest.approx(1.0)
    drawn = {random_logit.other_class(4, 2, seed) for seed in range(40)}
    assert drawn == {0, 1, 3}


@pytest.mark.parametrize("metric, table, key", [
    (mprt.METRIC, {"depth": 0}, "metrics.mprt"),
    (mprt.METRIC, {"layer_order": "sideways"}, "metrics.mprt.layer_order"),
    (smooth_mprt.METRIC, {"nr_samples": 0}, "metrics.smooth_mprt"),
    (efficient_mprt.METRIC, {"n_bins": 1}, "metrics.efficient_mprt"),
    (random_logit.METRIC, {"seed": 1}, "metrics.random_logit.seed"),
])
def test_bad_parameters_are_one_line(metric, table, key):
    with pytest.raises(ConfigError) as error:
        metric.parameters(table)
    assert key in str(error.value) and "\n" not in str(error.value)
