"""Max-Sensitivity and Local Lipschitz Estimate (attribution/metrics/robustness/) against Quantus 0.6 and by hand.

Same draws: Quantus draws its noise with ``np.random.uniform`` / ``np.random.normal`` (global numpy), we draw it from
``np.random.default_rng(seed)``; the tests replace numpy's two functions, for the Quantus call only, by draws from a
fresh ``default_rng(seed)``, so both see the same perturbed inputs in the same order.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rerun_fixtures import RUNS, first_channel, quantus_explain, state, tiny_inputs, tiny_model, unchanged
from xai_report.attribution.metrics.robustness import local_lipschitz_estimate as lle
from xai_report.attribution.metrics.robustness import max_sensitivity as ms
from xai_report.errors import ConfigError

quantus = pytest.importorskip("quantus")
SEED = 3


def _quantus_draws(monkeypatch, name: str) -> None:
    stream = np.random.default_rng(SEED)
    draw = {"uniform": lambda low, high, size: stream.uniform(low, high, size=size),
            "normal": lambda loc, scale, size: stream.normal(loc, scale, size=size)}[name]
    monkeypatch.setattr(np.random, name, draw)


def _theirs(metric, inputs, method, monkeypatch, draws: str) -> float:
    with monkeypatch.context() as patch:
        _quantus_draws(patch, draws)
        return metric(model=inputs.model, x_batch=inputs.x.numpy(), y_batch=np.array([inputs.target]),
                      a_batch=inputs.maps[method][None, None].copy(), device="cpu",
                      explain_func=quantus_explain(RUNS[method]))[0]


@pytest.mark.parametrize("compute, params, theirs, draws", [
    (ms.max_sensitivity, ms.MaxSensitivityParams(nr_samples=4, lower_bound=0.2),
     lambda: quantus.MaxSensitivity(nr_samples=4, lower_bound=0.2, disable_warnings=True), "uniform"),
    (lle.local_lipschitz_estimate, lle.LocalLipschitzEstimateParams(nr_samples=4, perturb_std=0.1),
     lambda: quantus.LocalLipschitzEstimate(nr_samples=4, perturb_std=0.1, disable_warnings=True), "normal"),
], ids=["max_sensitivity", "local_lipschitz_estimate"])
def test_equals_quantus(compute, params, theirs, draws, monkeypatch):
    inputs = tiny_inputs(tiny_model())
    ours = compute(inputs, params, SEED)
    for method in RUNS:
        assert ours[method].value == pytest.approx(_theirs(theirs(), inputs, method, monkeypatch, draws), rel=1e-5)
        assert ours[method].value > 0


def test_robustness_by_hand():
    # A "method" that returns the input's first channel: its change is the noise's first channel, so
    # Max-Sensitivity = max_k ||d_k[0, 0]|| / ||x[0, 0]|| and the Lipschitz ratio = max_k ||d_k[0, 0] / m'|| / ||d_k||
    # where m' is the perturbed map's largest magnitude (both maps are normalised by their maxima).
    model = tiny_model()
    inputs = tiny_inputs(model, runs={"identity": first_channel})
    x = inputs.x.double().numpy()
    rng = np.random.default_rng(SEED)
    draws = [rng.uniform(-0.2, 0.2, size=x.shape) for _ in range(3)]
    expected = max(np.linalg.norm((x + d).astype(np.float32)[0, 0] - x[0, 0]) for d in draws) / np.linalg.norm(x[0, 0])
    found = ms.max_sensitivity(inputs, ms.MaxSensitivityParams(nr_samples=3), SEED)["identity"]
    assert found.value == pytest.approx(expected, rel=1e-6)
    rng = np.random.default_rng(SEED)
    normal = [rng.normal(0.0, 0.1, size=x.shape) for _ in range(3)]
    a = x[0, 0] / np.abs(x[0, 0]).max()

    def ratio(d):
        b = (x + d).astype(np.float32)[0, 0].astype(np.float64)
        return np.linalg.norm(a - b / np.abs(b).max()) / (np.linalg.norm(d) + 1e-10)
    found = lle.local_lipschitz_estimate(inputs, lle.LocalLipschitzEstimateParams(nr_samples=3), SEED)["identity"]
    assert found.value == pytest.approx(max(ratio(d) for d in normal), rel=1e-6)


def test_linear_model_saliency_is_perfectly_robust():
    # The input gradient of a linear model does not depend on the input: no perturbation moves it.
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4)).eval()
    linear.features = linear[0]
    inputs = tiny_inputs(linear, runs={"saliency": RUNS["saliency"]})
    assert ms.max_sensitivity(inputs, ms.MaxSensitivityParams(nr_samples=3), 0)["saliency"].value == 0.0
    params = lle.LocalLipschitzEstimateParams(nr_samples=3)
    assert lle.local_lipschitz_estimate(inputs, params, 0)["saliency"].value == 0.0


def test_seeded_shared_and_absent():
    model = tiny_model()
    before = state(model)
    inputs = tiny_inputs(model, without=("gradcam",))
    params = ms.MaxSensitivityParams(nr_samples=3)
    first, again, other = (ms.max_sensitivity(inputs, params, s) for s in (5, 5, 6))
    assert first == again and first["saliency"] != other["saliency"]
    assert first["gradcam"].value is None and first["gradcam"].reason.startswith("not re-run")
    assert unchanged(model, before)
    zero = tiny_inputs(model, runs={"saliency": RUNS["saliency"]})
    zero = type(zero)(**{**zero.__dict__, "maps": {"saliency": np.zeros((32, 32), np.float32)}})
    found = ms.max_sensitivity(zero, params, 0)["saliency"]
    assert found.value is None and found.reason


@pytest.mark.parametrize("metric, table, key", [
    (ms.METRIC, {"nr_samples": 0}, "metrics.max_sensitivity"),
    (ms.METRIC, {"radius": 0.1}, "metrics.max_sensitivity.radius"),
    (lle.METRIC, {"perturb_std": -1.0}, "metrics.local_lipschitz_estimate"),
    (lle.METRIC, {"nr_samples": "ten"}, "metrics.local_lipschitz_estimate.nr_samples"),
])
def test_bad_parameters_are_one_line(metric, table, key):
    with pytest.raises(ConfigError) as error:
        metric.parameters(table)
    assert key in str(error.value) and "\n" not in str(error.value)


def test_cost_follows_the_samples():
    params = ms.METRIC.parameters({"nr_samples": 7})
    assert ms.METRIC.cost(params).backward == 7 and lle.METRIC.cost(lle.METRIC.parameters({})).forward == 10
