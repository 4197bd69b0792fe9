"""Complexity and Effective Complexity (attribution/metrics/complexity/) against Quantus 0.6 and by hand; the
Gini index of concentration.py is the one of sparseness.py (one computation).

Neither metric runs the model or draws anything: the same maps must give Quantus's numbers, within its float32
arithmetic (relative 1e-5 for the entropy; the counts exactly, on maps with no value at the threshold)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xai_report.attribution.metrics.base import MetricInput, NoParams
from xai_report.attribution.metrics.complexity import complexity, concentration, effective_complexity, sparseness
from xai_report.attribution.metrics.complexity.effective_complexity import EffectiveComplexityParams
from xai_report.attribution.metrics.registry import METRICS
from xai_report.errors import ConfigError
from xai_report.models.preprocess import Preprocess

SIZE = 16
MODEL = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * SIZE * SIZE, 4)).eval()


def _inputs(maps: dict[str, np.ndarray]) -> MetricInput:
    return MetricInput(model=MODEL, x=torch.zeros(1, 3, SIZE, SIZE), target=0, maps=maps,
                       preprocess=Preprocess(resize=SIZE, crop=SIZE, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))


def _maps() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    sparse = np.where(rng.uniform(size=(SIZE, SIZE)) < 0.2, rng.uniform(size=(SIZE, SIZE)), 0.0)
    return {"signed": rng.normal(size=(SIZE, SIZE)).astype(np.float32),
            "positive": rng.exponential(size=(SIZE, SIZE)).astype(np.float32),
            "sparse": sparse.astype(np.float32)}


def _quantus(metric, saliency: np.ndarray) -> float:
    return float(metric(model=MODEL, x_batch=np.zeros((1, 3, SIZE, SIZE), np.float32), y_batch=np.array([0]),
                        a_batch=saliency[None, None].copy(), device="cpu")[0])


def test_complexity_equals_quantus():
    quantus = pytest.importorskip("quantus")
    maps = _maps()
    found = complexity.complexity(_inputs(maps), NoParams(), seed=0)
    for method, saliency in maps.items():
        expected = _quantus(quantus.Complexity(disable_warnings=True), saliency)
        assert found[method].value == pytest.approx(expected, rel=1e-5), method


@pytest.mark.parametrize("eps", [1e-5, 0.3])
def test_effective_complexity_equals_quantus(eps):
    quantus = pytest.importorskip("quantus")
    maps = _maps()
    found = effective_complexity.effective_complexity(_inputs(maps), EffectiveComplexityParams(eps=eps), seed=0)
    for method, saliency in maps.items():
        expected = _quantus(quantus.EffectiveComplexity(eps=eps, disable_warnings=True), saliency)
        assert found[method].value == expected, method
    assert found["sparse"].value < SIZE * SIZE / 2  # the zeros do not count


def test_by_hand():
    n = SIZE * SIZE
    one_hot = np.zeros((SIZE, SIZE), np.float32)
    one_hot[2, 3] = -7.0
    two = np.zeros((SIZE, SIZE), np.float32)
    two[0, 0], two[1, 1] = 1.0, -1.0
    quarter = np.zeros((SIZE, SIZE), np.float32)
    quarter[:, :4] = 2.0
    quarter[0, 0] = 1e-6  # below eps * peak = 2e-5
    maps = {"flat": np.ones((SIZE, SIZE), np.float32), "one_hot": one_hot, "two": two, "quarter": quarter}
    entropy = complexity.complexity(_inputs(maps), NoParams(), 0)
    assert entropy["flat"].value == pytest.approx(math.log(n))
    assert entropy["one_hot"].value == pytest.approx(0.0, abs=1e-12)
    assert entropy["two"].value == pytest.approx(math.log(2))
    # 63 pixels of 2 and one of 1e-6: shares 2 / (126 + 1e-6) and 1e-6 / (126 + 1e-6).
    shares = np.array([2.0] * 63 + [1e-6]) / (126 + 1e-6)
    assert entropy["quarter"].value == pytest.approx(float(-(shares * np.log(shares)).sum()))
    counts = effective_complexity.effective_complexity(_inputs(maps), EffectiveComplexityParams(), 0)
    assert [counts[m].value for m in maps] == [n, 1, 2, 63]


def test_no_number_and_bad_parameters():
    maps = {"zero": np.zeros((SIZE, SIZE), np.float32), "nan": np.full((SIZE, SIZE), np.nan, np.float32)}
    entropy = complexity.complexity(_inputs(maps), NoParams(), 0)
    assert entropy["zero"].value is None and "zero everywhere" in entropy["zero"].reason
    assert entropy["nan"].value is None and "non-finite" in entropy["nan"].reason
    counts = effective_complexity.effective_complexity(_inputs(maps), EffectiveComplexityParams(), 0)
    assert counts["zero"].value == 0.0 and counts["nan"].value is None
    with pytest.raises(ConfigError, match=r"^metrics\.effective_complexity\.eps must be in \[0, 1\)"):
        METRICS["effective_complexity"].parameters({"eps": 1.5})
    with pytest.raises(ConfigError, match=r"metrics\.effective_complexity"):
        METRICS["effective_complexity"].parameters({"eps": "small"})
    with pytest.raises(ConfigError, match=r"metrics\.complexity"):
        METRICS["complexity"].parameters({"abs": False})
    assert not METRICS["complexity"].higher_is_better and not METRICS["effective_complexity"].higher_is_better


def test_concentration_gini_is_sparseness_gini():
    # One Gini index: concentration.gini (positive part, no epsilon) is sparseness.gini with epsilon 0, and the
    # formula it documents, 1 - 2 sum_k (c_k / |c|_1)(n - k + 1/2) / n, gives the same number.
    saliency = _maps()["signed"]
    c = np.sort(np.maximum(saliency.astype(np.float64), 0).ravel())
    n, k = c.size, np.arange(1, c.size + 1)
    by_formula = 1 - 2 * np.sum(c / c.sum() * (n - k + 0.5) / n)
    assert concentration.gini(saliency) == pytest.approx(by_formula, abs=1e-12)
    assert concentration.gini(saliency) == sparseness.gini(np.maximum(saliency, 0), epsilon=0.0)
