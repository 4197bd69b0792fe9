"""Sparseness (attribution/metrics/complexity/sparseness.py) against Quantus 0.6 and a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xai_report.attribution.metrics.base import MetricInput, NoParams
from xai_report.attribution.metrics.complexity import sparseness
from xai_report.models.preprocess import Preprocess

quantus = pytest.importorskip("quantus")


def _inputs(maps: dict[str, np.ndarray]) -> MetricInput:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)).eval()
    return MetricInput(model=model, x=torch.zeros(1, 3, 8, 8), target=0, maps=maps,
                       preprocess=Preprocess(resize=8, crop=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))


def test_sparseness_equals_quantus():
    rng = np.random.default_rng(0)
    maps = {"signed": rng.normal(size=(8, 8)).astype(np.float32),
            "peaked": np.pad(np.ones((2, 2), np.float32), 3)}
    ours = sparseness.sparseness(_inputs(maps), NoParams(), seed=0)
    model = _inputs(maps).model
    for method, saliency in maps.items():
        theirs = quantus.Sparseness(disable_warnings=True)(
            model=model, x_batch=np.zeros((1, 3, 8, 8), np.float32), y_batch=np.array([0]),
            a_batch=saliency[None, None].copy(), device="cpu")
        assert ours[method].value == pytest.approx(theirs[0], abs=1e-6), method


def test_sparseness_by_hand():
    # Four pixels carry 1, the rest 0: with epsilon ~0, G = (sum over the top four ranks of 2i - n - 1) / (n * 4).
    n = 64
    expected = sum(2 * i - n - 1 for i in range(n - 3, n + 1)) / (n * 4)
    found = sparseness.sparseness(_inputs({"m": np.pad(np.ones((2, 2), np.float32), 3)}), NoParams(), 0)
    assert found["m"].value == pytest.approx(expected, abs=1e-4)
    flat = sparseness.sparseness(_inputs({"m": np.ones((8, 8), np.float32)}), NoParams(), 0)
    assert flat["m"].value == pytest.approx(0.0, abs=1e-9)
