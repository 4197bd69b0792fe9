"""The localisation metrics (attribution/metrics/localisation/) against Quantus 0.6 and hand-computed cases, and
boxes.metric_mask (the integrator's way to MetricInput.boxes).

Every localisation metric reads only the map and the box mask (no model pass, no randomness), so the same maps
and masks given to Quantus must give the same numbers; Quantus's float32 max-normalisation bounds the difference
(tolerance 1e-6)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from xai_report.attribution.metrics.base import MetricInput, NoParams
from xai_report.attribution.metrics.localisation import (
    boxes, energy_pointing_game, pointing_game, relevance_mass_accuracy, relevance_rank_accuracy)
from xai_report.attribution.metrics.localisation.against_boxes import PooledParams
from xai_report.attribution.metrics.localisation.pointing_game import PointingGameParams
from xai_report.attribution.metrics.registry import METRICS
from xai_report.errors import ConfigError
from xai_report.models.preprocess import Preprocess

SIZE = 16
PRE = Preprocess(resize=SIZE, crop=SIZE, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
MODEL = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * SIZE * SIZE, 4)).eval()


def _inputs(maps: dict[str, np.ndarray], mask: np.ndarray | None) -> MetricInput:
    return MetricInput(model=MODEL, x=torch.zeros(1, 3, SIZE, SIZE), target=0, maps=maps, preprocess=PRE, boxes=mask)


def _fixtures() -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """A signed map, a positive map and a peaked one (continuous values: no ties), and two box masks."""
    rng = np.random.default_rng(0)
    peaked = rng.uniform(0, 0.1, size=(SIZE, SIZE))
    peaked[5, 6] = 1.0
    maps = {"signed": rng.normal(size=(SIZE, SIZE)), "positive": rng.uniform(size=(SIZE, SIZE)), "peaked": peaked}
    one, two = np.zeros((SIZE, SIZE), bool), np.zeros((SIZE, SIZE), bool)
    one[3:9, 4:10] = True
    two[0:4, 0:16] = True
    two[10:14, 2:6] = True
    return {m: v.astype(np.float32) for m, v in maps.items()}, [one, two]


def _quantus(metric, saliency: np.ndarray, mask: np.ndarray) -> float:
    return float(metric(model=MODEL, x_batch=np.zeros((1, 3, SIZE, SIZE), np.float32), y_batch=np.array([0]),
                        a_batch=saliency[None, None].copy(), s_batch=mask[None, None].astype(np.float32),
                        device="cpu")[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")  # Quantus's own box-size warnings
@pytest.mark.parametrize("ours, params, theirs, options", [
    (pointing_game.pointing_game, PointingGameParams(tolerance=0), "PointingGame", {}),
    # The paper's non-negative relevance: |S| is Quantus with abs=True; the positive part, Quantus on max(S, 0).
    (relevance_mass_accuracy.relevance_mass_accuracy, PooledParams(), "RelevanceMassAccuracy", {"abs": True}),
    (relevance_mass_accuracy.relevance_mass_accuracy, PooledParams(pooling="positive"), "RelevanceMassAccuracy",
     {"clip": True}),
    (relevance_rank_accuracy.relevance_rank_accuracy, PooledParams(), "RelevanceRankAccuracy", {"abs": True}),
    # The energy is AttributionLocalisation with the positive part instead of its default absolute values.
    (energy_pointing_game.energy_pointing_game, NoParams(), "AttributionLocalisation",
     {"abs": False, "positive_attributions": True}),
])
def test_equals_quantus(ours, params, theirs, options):
    quantus = pytest.importorskip("quantus")
    options = dict(options)
    clip = options.pop("clip", False)
    maps, masks = _fixtures()
    for mask in masks:
        found = ours(_inputs(maps, mask), params, seed=0)
        for method, saliency in maps.items():
            given = np.maximum(saliency, 0) if clip else saliency
            expected = _quantus(getattr(quantus, theirs)(disable_warnings=True, **options), given, mask)
            assert found[method].value == pytest.approx(expected, abs=1e-6), (theirs, method)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
def test_quantus_default_reads_signed_maps():
    # Where we follow the paper: Quantus 0.6's default (abs=False) lets negative relevance subtract, so on the
    # signed fixture it gives another number than the paper's |S|; on a positive map the two agree.
    quantus = pytest.importorskip("quantus")
    maps, masks = _fixtures()
    found = relevance_mass_accuracy.relevance_mass_accuracy(_inputs(maps, masks[0]), PooledParams(), 0)
    signed = _quantus(quantus.RelevanceMassAccuracy(disable_warnings=True), maps["signed"], masks[0])
    assert abs(found["signed"].value - signed) > 0.01
    positive = _quantus(quantus.RelevanceMassAccuracy(disable_warnings=True), maps["positive"], masks[0])
    assert found["positive"].value == pytest.approx(positive, abs=1e-6)


def test_pointing_game_tolerance_follows_the_paper():
    # The maximum 10 px right of the box: a miss for Quantus 0.6 (no tolerance), a hit within Zhang et al.'s 15 px.
    quantus = pytest.importorskip("quantus")
    mask = np.zeros((SIZE, SIZE), bool)
    mask[2:5, 2:5] = True
    saliency = np.zeros((SIZE, SIZE), np.float32)
    saliency[3, 14] = 1.0
    maps = {"m": saliency}
    assert _quantus(quantus.PointingGame(disable_warnings=True), saliency, mask) == 0.0
    assert pointing_game.pointing_game(_inputs(maps, mask), PointingGameParams(tolerance=0), 0)["m"].value == 0.0
    assert pointing_game.pointing_game(_inputs(maps, mask), PointingGameParams(tolerance=9), 0)["m"].value == 0.0
    assert pointing_game.pointing_game(_inputs(maps, mask), PointingGameParams(tolerance=10), 0)["m"].value == 1.0
    assert pointing_game.pointing_game(_inputs(maps, mask), PointingGameParams(), 0)["m"].value == 1.0
    # An empty box mask: Quantus 0.6 counts a hit (nan written into a bool array); ours has no number.
    empty = np.zeros((SIZE, SIZE), bool)
    assert _quantus(quantus.PointingGame(disable_warnings=True), saliency, empty) == 1.0
    assert pointing_game.pointing_game(_inputs(maps, empty), PointingGameParams(), 0)["m"].value is None


def test_by_hand():
    # A 2x2 image, box = the top row. Map [[3, 1], [-2, 4]]: the maximum (4) is off the box; the absolute mass
    # inside is (3 + 1) / (3 + 1 + 2 + 4) = 4/10, the positive mass 4/8 (the energy too); the top K = 2 pixels of
    # |S| are 4 and 3, one of them inside: 1/2.
    mask = np.array([[True, True], [False, False]])
    inputs = MetricInput(model=MODEL, x=torch.zeros(1, 3, 2, 2), target=0, preprocess=PRE, boxes=mask,
                         maps={"m": np.array([[3.0, 1.0], [-2.0, 4.0]], np.float32)})
    positive = PooledParams(pooling="positive")
    assert pointing_game.pointing_game(inputs, PointingGameParams(tolerance=0), 0)["m"].value == 0.0
    assert pointing_game.pointing_game(inputs, PointingGameParams(tolerance=1), 0)["m"].value == 1.0
    assert relevance_mass_accuracy.relevance_mass_accuracy(inputs, PooledParams(), 0)["m"].value == pytest.approx(0.4)
    assert relevance_mass_accuracy.relevance_mass_accuracy(inputs, positive, 0)["m"].value == pytest.approx(0.5)
    assert relevance_rank_accuracy.relevance_rank_accuracy(inputs, PooledParams(), 0)["m"].value == pytest.approx(0.5)
    assert energy_pointing_game.energy_pointing_game(inputs, NoParams(), 0)["m"].value == pytest.approx(0.5)
    # [[-5, 1], [0, 4]]: |S| ranks -5 (inside) and 4 first: 1/2; the positive part ranks 4 and 1: 1/2 as well,
    # but its mass inside is 1/5 against |S|'s 6/10.
    inputs = replace(inputs, maps={"m": np.array([[-5.0, 1.0], [0.0, 4.0]], np.float32)})
    assert relevance_mass_accuracy.relevance_mass_accuracy(inputs, PooledParams(), 0)["m"].value == pytest.approx(0.6)
    assert relevance_mass_accuracy.relevance_mass_accuracy(inputs, positive, 0)["m"].value == pytest.approx(0.2)
    assert relevance_rank_accuracy.relevance_rank_accuracy(inputs, positive, 0)["m"].value == pytest.approx(0.5)


def test_rank_accuracy_shares_ties():
    # 3x3, box = 3 pixels (K = 3): one pixel 5 outside, the rest 0. The top 3 is the 5 and two of the eight zeros,
    # three of which are inside: expected hits 2 * 3/8, score (3/4) / 3 = 1/4, whatever order the ties take.
    mask = np.zeros((3, 3), bool)
    mask[0] = True
    saliency = np.zeros((3, 3), np.float32)
    saliency[2, 2] = 5.0
    inputs = MetricInput(model=MODEL, x=torch.zeros(1, 3, 3, 3), target=0, preprocess=PRE, boxes=mask,
                         maps={"m": saliency, "flipped": saliency[::-1, ::-1].copy()})
    found = relevance_rank_accuracy.relevance_rank_accuracy(inputs, PooledParams(), 0)
    assert found["m"].value == pytest.approx(0.25)
    # The 5 inside; two of the eight zeros fill the places left, two of those zeros inside: (1 + 2 * 2/8) / 3.
    assert found["flipped"].value == pytest.approx(0.5)


def test_absent_with_the_reason():
    maps, masks = _fixtures()
    maps = {"zero": np.zeros((SIZE, SIZE), np.float32), "nan": np.full((SIZE, SIZE), np.nan, np.float32),
            "negative": -maps["positive"]}
    for name in ("pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy", "energy_pointing_game"):
        metric = METRICS[name]
        assert metric.needs == {"boxes"}
        params = metric.parameters({})
        no_boxes = metric.compute(_inputs(maps, None), params, 0)
        assert all(s.value is None and "no object boxes" in s.reason for s in no_boxes.values()), name
        empty = metric.compute(_inputs(maps, np.zeros((SIZE, SIZE), bool)), params, 0)
        assert all(s.value is None and "no object" in s.reason for s in empty.values()), name
        found = metric.compute(_inputs(maps, masks[0]), params, 0)
        assert found["zero"].value is None and "zero everywhere" in found["zero"].reason, name
        assert found["nan"].value is None and "non-finite" in found["nan"].reason, name
    negative = METRICS["energy_pointing_game"].compute(_inputs(maps, masks[0]), NoParams(), 0)["negative"]
    assert negative.value is None and "no positive mass" in negative.reason
    for name in ("relevance_mass_accuracy", "relevance_rank_accuracy"):
        found = METRICS[name].compute(_inputs(maps, masks[0]), PooledParams(pooling="positive"), 0)["negative"]
        assert found.value is None and "no positive relevance" in found.reason, name


def test_bad_parameters_are_one_line():
    with pytest.raises(ConfigError, match=r"^metrics\.pointing_game\.tolerance must be >= 0 pixels, got -1$"):
        METRICS["pointing_game"].parameters({"tolerance": -1})
    with pytest.raises(ConfigError, match=r"metrics\.pointing_game") as bad:
        METRICS["pointing_game"].parameters({"tolerence": 3})
    assert "\n" not in str(bad.value)
    with pytest.raises(ConfigError, match=r"metrics\.relevance_mass_accuracy"):
        METRICS["relevance_mass_accuracy"].parameters({"abs": True})
    with pytest.raises(ConfigError, match=r"metrics\.relevance_rank_accuracy\.pooling") as bad:
        METRICS["relevance_rank_accuracy"].parameters({"pooling": "signed"})
    assert "\n" not in str(bad.value)
    assert METRICS["relevance_rank_accuracy"].parameters({"pooling": "positive"}).pooling == "positive"


def test_metric_mask(tmp_path):
    csv = tmp_path / "boxes.csv"
    csv.write_text("file,wnid,x0,y0,x1,y1,object\n"
                   "a.jpg,n1,0,0,50,100,left half\n"
                   "b.jpg,n1,,,,,\n", encoding="utf-8")
    found = boxes.read_boxes(csv)
    pre = Preprocess(resize=8, crop=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    mask = boxes.metric_mask(found, "a.jpg", (100, 100), pre)
    assert mask.dtype == bool and mask.shape == (8, 8)
    assert mask[:, :4].all() and not mask[:, 4:].any()  # the left half of a square image
    assert not boxes.metric_mask(found, "b.jpg", (100, 100), pre).any()  # a row without a box: no object
    assert boxes.metric_mask(found, "c.jpg", (100, 100), pre) is None  # no row: no boxes for this image
