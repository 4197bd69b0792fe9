"""FastAblationCAM / FastScoreCAM / the LIME classifier give the library's results, and the model cut is exact."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
import torchvision
from lime import lime_image
from pytorch_grad_cam import AblationCAM, ScoreCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from xai_report.attribution.methods.ablation_cam import FastAblationCAM, ablation_values
from xai_report.attribution.methods.score_cam import FastScoreCAM, distinct_masks, scorecam_masks
from xai_report.attribution.inference import BatchScorer, frozen_copy, frozen_for_cpu, images_per_pass
from xai_report.attribution.methods.lime_explainer import FastLimeImageExplainer, make_classifier_fn
from xai_report.attribution.split import SplitError, split_model
from xai_report.models import Preprocess

MAP_TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run this module's small models on one thread.

    On a shared 2-core machine two OpenMP threads wait for each other at every operator whenever another
    process holds a core; these tests then take 70 s instead of 10. Small models gain nothing from a second
    thread anyway. The previous setting is restored for the other test modules.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class SmallNet(nn.Module):
    """Conv-BN-ReLU stem, a residual block, a BN-only layer (negative activations), pooling, linear."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.relu(self.bn(self.conv(x)) + x)  # residual: cutting at self.bn leaves x as a boundary value
        return self.fc(self.pool(self.head(x)).flatten(1))


def small_net() -> nn.Module:
    torch.manual_seed(0)
    net = SmallNet()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(1)
    return torchvision.models.resnet18(num_classes=10).eval()


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` with the library's tqdm bars (stderr) swallowed."""
    with contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def _maps(cam_class, model, layer, x, classes, **kwargs) -> np.ndarray:
    with cam_class(model=model, target_layers=[layer], **kwargs) as cam:
        return _quiet(cam, input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])


# ---------------------------------------------------------------------------------------------
# the cut


@pytest.mark.parametrize("layer_name", ["layer4.1", "layer4.1.conv2", "layer3", "layer2.0.bn1", "avgpool"])
def test_tail_of_split_reproduces_resnet_output_exactly(resnet18, layer_name):
    split = split_model(resnet18, resnet18.get_submodule(layer_name))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        layer_out, extras = split.run_head(x)
        assert torch.equal(split.run_tail(layer_out, extras), resnet18(x))


def test_split_passes_residual_branch_across_the_cut():
    net = small_net()
    split = split_model(net, net.bn)
    assert len(split.extra_names) == 1  # the block input, added after the cut
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        layer_out, extras = split.run_head(x)
        assert torch.equal(split.run_tail(layer_out, extras), net(x))
        # one sample's variants: its boundary tensor is repeated to the variant batch
        variants = layer_out[1:2].repeat(4, 1, 1, 1)
        assert torch.allclose(split.tail_for_sample(variants, extras, 1), net(x)[1:2].expand(4, -1), atol=1e-6)


def test_split_of_timm_efficientnet_lite0_is_exact():
    timm = pytest.importorskip("timm")
    net = timm.create_model("tf_efficientnet_lite0", num_classes=7).eval()
    x = torch.randn(1, 3, 64, 64)
    for name in ("bn2", "blocks.6"):
        split = split_model(net, net.get_submodule(name))
        with torch.no_grad():
            assert torch.equal(split.run_tail(*split.run_head(x)), net(x))


def test_split_errors_name_the_problem():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.conv(self.conv(x))

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            y = self.conv(x)
            return y if y.sum() > 0 else -y  # data-dependent control flow: not traceable

    twice = Twice()
    with pytest.raises(SplitError, match="called 2 times"):
        split_model(twice, twice.conv)
    branchy = Branchy()
    with pytest.raises(SplitError, match="cannot trace"):
        split_model(branchy, branchy.conv)
    net = small_net()
    with pytest.raises(SplitError, match="not a sub-module"):
        split_model(net, nn.Conv2d(1, 1, 1))


def test_frozen_copy_matches_model_and_refuses_value_dependent_forward():
    net = small_net()
    x = torch.randn(4, 3, 16, 16)
    frozen = frozen_for_cpu(net, x)
    assert frozen is not None
    with torch.no_grad():
        torch.testing.assert_close(frozen(x[:3] * 0.5), net(x[:3] * 0.5), atol=1e-5, rtol=1e-5)

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    assert frozen_for_cpu(Branchy(), x) is None


# ---------------------------------------------------------------------------------------------
# Ablation-CAM


@pytest.mark.parametrize("minimum", [0.0, -0.75, 2.5])
def test_ablation_values_match_library_ablation_layer(minimum):
    acts = torch.rand(1, 6, 3, 3) + 3.0
    acts[0, 2, 1, 1] = minimum
    layer = AblationLayer()
    layer.indices = np.int32([4, 0, 5, 1, 2])
    layer.set_next_batch(input_batch_index=0, activations=acts, num_channels_to_ablate=5)
    library = layer(None)
    values = ablation_values(acts.min(), 5)
    for i, channel in enumerate(layer.indices):
        assert torch.equal(library[i, channel], torch.full((3, 3), float(values[i])))


def test_fast_ablation_cam_equals_library_on_small_net():
    net = small_net()
    x = torch.randn(2, 3, 16, 16)
    for layer in (net.head, net.bn):  # ReLU output (min 0) and a BN output (negative min) with a residual after it
        lib = _maps(AblationCAM, net, layer, x, [3, 1], batch_size=5)
        ours = _maps(FastAblationCAM, net, layer, x, [3, 1], batch_size=5)
        assert np.abs(lib - ours).max() <= MAP_TOL
        assert lib.max() > 0.99  # a real map, not an all-zero one


def test_fast_ablation_cam_equals_library_on_resnet18(resnet18):
    x = torch.randn(1, 3, 48, 48)
    layer = resnet18.layer4[-1]
    lib = _maps(AblationCAM, resnet18, layer, x, [4])
    ours = _maps(FastAblationCAM, resnet18, layer, x, [4])
    assert np.abs(lib - ours).max() <= MAP_TOL


def test_fast_ablation_cam_weights_equal_library_with_channel_subset(resnet18):
    """ratio_channels_to_ablate < 1 (the library's SVD channel choice), cut inside a residual block."""
    x = torch.randn(1, 3, 48, 48)
    layer, targets = resnet18.layer3[-1].conv2, [ClassifierOutputTarget(2)]
    acts = layer_activations(resnet18, layer, x)
    weights = []
    for cam_class in (AblationCAM, FastAblationCAM):
        with cam_class(resnet18, [layer], ratio_channels_to_ablate=0.25) as cam:
            weights.append(_quiet(cam.get_cam_weights, x, layer, targets, acts, None))
    # Not bit-equal here: the library recomputes the residual branch at batch size 32, we at batch size 1,
    # and oneDNN's convolutions round differently per batch size; (y - y_k) / y amplifies that rounding.
    assert np.abs(weights[1] - weights[0]).max() <= 1e-4 * np.abs(weights[0]).max()
    assert (weights[0] != 0).sum() >= 64  # channels were really ablated


def layer_activations(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> np.ndarray:
    store = []
    handle = layer.register_forward_hook(lambda m, i, o: store.append(o.detach().numpy()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return store[0]


def test_fast_ablation_cam_falls_back_to_the_library_where_it_cannot_cut(resnet18):
    """A reshape_transform or a model torch.fx cannot split: the library's computation, the same maps."""

    class Branchy(nn.Module):  # data-dependent control flow: torch.fx cannot trace it
        def __init__(self) -> None:
            super().__init__()
            self.net = small_net()

        def forward(self, x):
            return self.net(x) if x.sum() > -1e9 else -self.net(x)

    x = torch.randn(1, 3, 48, 48)
    layer = resnet18.layer4[-1]
    lib = _maps(AblationCAM, resnet18, layer, x, [4], reshape_transform=lambda t: t)
    with pytest.warns(UserWarning, match="reshape_transform"):
        ours = _maps(FastAblationCAM, resnet18, layer, x, [4], reshape_transform=lambda t: t)
    assert np.abs(lib - ours).max() <= MAP_TOL

    branchy, small_x = Branchy().eval(), torch.randn(1, 3, 16, 16)
    lib = _maps(AblationCAM, branchy, branchy.net.head, small_x, [2])
    with pytest.warns(UserWarning, match="cannot cut the model"):
        ours = _maps(FastAblationCAM, branchy, branchy.net.head, small_x, [2])
    assert np.abs(lib - ours).max() <= MAP_TOL
    assert lib.max() > 0.99


# ---------------------------------------------------------------------------------------------
# Score-CAM


def test_distinct_masks_merges_only_equal_masks():
    torch.manual_seed(0)
    low = torch.zeros(1, 8, 4, 4)
    low[0, 1] = torch.rand(4, 4)
    low[0, 3] = low[0, 1]  # exact duplicate of channel 1
    low[0, 4] = torch.rand(4, 4)
    low[0, 6] = low[0, 1] * 0.37  # the same mask in exact arithmetic; the library's 1e-8 rounds it differently
    low[0, 7] = low[0, 4]
    low[0, 7, 2, 2] += 1e-3  # a real difference
    masks = scorecam_masks(low, (16, 16))[0]
    reps, slot_of = distinct_masks(masks, low[0])
    assert reps == [0, 1, 4, 7]  # zero channels 0, 2, 5 share one pass; 3 and 6 reuse 1
    assert slot_of.tolist() == [0, 1, 0, 1, 2, 0, 1, 3]
    for channel in range(8):
        assert (masks[reps[slot_of[channel]]] - masks[channel]).abs().max() <= 1e-6
    assert not torch.equal(masks[6], masks[1])  # ... they differ in the last bits (1.2e-7)
    exact, _ = distinct_masks(masks, low[0], atol=0.0)
    assert exact == [0, 1, 4, 6, 7]


def test_fast_score_cam_equals_library_on_small_net():
    net = small_net()
    x = torch.randn(2, 3, 16, 16)
    for layer in (net.head, net.bn):
        lib = _maps(ScoreCAM, net, layer, x, [2, 4])
        ours = _maps(FastScoreCAM, net, layer, x, [2, 4], batch_size=7)
        assert np.abs(lib - ours).max() <= MAP_TOL
        assert lib.max() > 0.99


def test_fast_score_cam_equals_library_on_resnet18(resnet18):
    x = torch.randn(1, 3, 48, 48)
    layer = resnet18.layer3[-1]
    lib = _maps(ScoreCAM, resnet18, layer, x, [6])
    with FastScoreCAM(resnet18, [layer]) as cam:
        ours = cam(x, [ClassifierOutputTarget(6)])
        assert cam.passes <= 256
    assert np.abs(lib - ours).max() <= MAP_TOL


def test_fast_score_cam_scores_each_distinct_mask_once():
    net = small_net()
    with torch.no_grad():  # make half of the head's channels dead (all-zero after ReLU)
        net.head[0].bias[:6] = -1e4
    x = torch.randn(1, 3, 16, 16)
    lib = _maps(ScoreCAM, net, net.head, x, [1])
    with FastScoreCAM(net, [net.head]) as cam:
        ours = cam(x, [ClassifierOutputTarget(1)])
        assert cam.passes == 6 + 1  # six live channels, one shared pass for the six dead ones
    assert np.abs(lib - ours).max() <= MAP_TOL


# ---------------------------------------------------------------------------------------------
# LIME


def _reference_classifier_fn(model: nn.Module, pre: Preprocess):
    """The straightforward classifier_fn: normalise image by image, classify with autograd off."""
    mean = torch.tensor(pre.mean).view(3, 1, 1)
    std = torch.tensor(pre.std).view(3, 1, 1)

    def classify(images: np.ndarray) -> np.ndarray:
        batch = torch.stack([(torch.from_numpy(np.float32(img)).permute(2, 0, 1) - mean) / std for img in images])
        with torch.no_grad():
            return torch.softmax(model(batch), dim=1).numpy()

    return classify


@pytest.mark.parametrize("hide_color", [0, None])  # black, and each superpixel's mean colour (the study's)
def test_fast_lime_equals_the_package_with_reference_classifier(hide_color):
    net = small_net()
    pre = Preprocess(resize=32, crop=32, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    rng = np.random.default_rng(0)
    image = rng.random((32, 32, 3))
    image[:16] *= 0.3  # some structure for the segmentation

    def explain(explainer_class, fn, batch_size):
        explainer = explainer_class(random_state=0)
        return explainer.explain_instance(
            image, fn, top_labels=2, hide_color=hide_color, num_samples=120, batch_size=batch_size, random_seed=0,
        )

    ref = _quiet(explain, lime_image.LimeImageExplainer, _reference_classifier_fn(net, pre), 10)
    ours = explain(FastLimeImageExplainer, make_classifier_fn(net, pre, chunk=7), 100)
    assert np.array_equal(ref.segments, ours.segments)
    assert ref.top_labels == ours.top_labels
    for label in ref.top_labels:
        ref_exp, our_exp = dict(ref.local_exp[label]), dict(ours.local_exp[label])
        assert ref_exp.keys() == our_exp.keys()
        assert max(abs(ref_exp[k] - our_exp[k]) for k in ref_exp) <= 1e-5
        assert [k for k, _ in ref.local_exp[label][:3]] == [k for k, _ in ours.local_exp[label][:3]]


def test_fast_lime_builds_the_packages_perturbed_images_exactly():
    """Same random rows, bit-identical images, same batch sizes; segment ids need not be contiguous."""
    rng = np.random.default_rng(1)
    image = rng.random((12, 10, 3))
    fudged = rng.random((12, 10, 3))
    segments = np.repeat(np.arange(6), 20).reshape(12, 10)
    segments[segments == 4] = 9  # ids 0 1 2 3 5 9: the package never hides id 9 (beyond its 6 columns)
    seen: dict[str, list[np.ndarray]] = {"package": [], "ours": []}

    def recorder(name):
        def classify(images):
            seen[name].append(np.array(images, copy=True))
            return np.tile(images.mean(axis=(1, 2, 3))[:, None], (1, 2))
        return classify

    data_ref, labels_ref = _quiet(
        lime_image.LimeImageExplainer(random_state=3).data_labels, image, fudged, segments, recorder("package"), 23, 5
    )
    data, labels = FastLimeImageExplainer(random_state=3).data_labels(image, fudged, segments, recorder("ours"), 23, 5)
    assert np.array_equal(data, data_ref) and np.array_equal(labels, labels_ref)
    assert [len(b) for b in seen["ours"]] == [len(b) for b in seen["package"]] == [5, 5, 5, 5, 3]
    for ours, ref in zip(seen["ours"], seen["package"]):
        assert ours.dtype == ref.dtype and np.array_equal(ours, ref)
    assert not np.array_equal(seen["ours"][1], np.broadcast_to(image, seen["ours"][1].shape))  # some hidden


def test_batch_scorer_chunks_and_freezes_without_changing_outputs():
    net = small_net()
    x = torch.randn(11, 3, 16, 16)
    with torch.no_grad():
        eager = net(x)
    for chunk in (None, 1, 4, 11, 50):
        scorer = BatchScorer(net, chunk=chunk)
        torch.testing.assert_close(scorer(x), eager, atol=1e-5, rtol=1e-5)
        assert scorer.frozen is not None  # the frozen copy really ran
    assert images_per_pass(224, 224) == 8 and images_per_pass(96, 96) == 43 and images_per_pass(4000, 4000) == 1


def test_frozen_passes_run_on_stream_threads_in_balanced_chunks_and_keep_the_order():
    import threading

    class Recording(BatchScorer):
        def _pass(self, batch):
            seen.append((threading.current_thread().name, len(batch), torch.get_num_threads()))
            return super()._pass(batch)

    net = small_net()
    x = torch.randn(13, 3, 16, 16)
    with torch.no_grad():
        eager = net(x)
    before = torch.get_num_threads()
    seen: list = []
    try:
        torch.set_num_threads(4)  # as on a 4-core machine, whatever this one has
        out = Recording(net, chunk=4)(x)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(out, eager, atol=1e-5, rtol=1e-5)  # wrong order would swap rows
    # ceil(13 / 4) = 4 chunks, already a multiple of the 2 streams: sizes differ by at most one image.
    assert sorted(size for _, size, _ in seen) == [3, 3, 3, 4]
    assert all(name.startswith("xai-report-pass") and threads == 2 for name, _, threads in seen)
    # No streams (asked for none, or one torch thread): every chunk runs here, in order, with the chunk size asked.
    for scorer, threads in ((Recording(net, chunk=4, streams=False), before), (Recording(net, chunk=4), 1)):
        seen = []
        try:
            torch.set_num_threads(threads)
            torch.testing.assert_close(scorer(x), eager, atol=1e-5, rtol=1e-5)
        finally:
            torch.set_num_threads(before)
        assert [size for _, size, _ in seen] == [4, 4, 4, 1]
        assert {name for name, _, _ in seen} == {threading.current_thread().name}


def test_stream_threads_share_the_callers_torch_threads():
    import threading

    from xai_report.attribution import inference

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        pool = inference.stream_pool()
        assert pool is not None
        got = [f.result() for f in [pool.submit(torch.get_num_threads) for _ in range(inference.CPU_STREAMS * 2)]]
        assert got == [4 // inference.CPU_STREAMS] * len(got)
        assert torch.get_num_threads() == 4  # the caller's own setting is untouched
        fresh: list = []
        thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert fresh == [4]  # and so is the default that threads started later take
        torch.set_num_threads(1)
        assert inference.stream_pool() is None
    finally:
        torch.set_num_threads(before)


def test_frozen_copy_is_reused_until_the_weights_or_mode_change():
    net = small_net()
    x = torch.randn(2, 3, 16, 16)
    first = frozen_copy(net, x)
    assert first is not None and frozen_copy(net, x) is first
    with torch.no_grad():
        net.fc.bias += 1.0  # an in-place change: the old copy would give stale outputs
    second = frozen_copy(net, x)
    assert second is not None and second is not first
    with torch.no_grad():
        torch.testing.assert_close(BatchScorer(net)(x), net(x), atol=1e-5, rtol=1e-5)
    net.train()
    assert frozen_copy(net, x) is None  # batch-norm must keep using batch statistics
    net.eval()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_normalise_gives_the_per_image_formula_and_leaves_the_pixels_alone(dtype):
    """LIME's batch normalisation equals ``(x - mean) / std`` image by image, bit for bit, as NCHW float32."""
    from xai_report.data import normalise

    pre = Preprocess(resize=9, crop=9, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    pixels = np.random.default_rng(0).random((5, 9, 7, 3)).astype(dtype)
    before = pixels.copy()
    mean, std = torch.tensor(pre.mean).view(3, 1, 1), torch.tensor(pre.std).view(3, 1, 1)
    expected = torch.stack([(torch.from_numpy(np.float32(p)).permute(2, 0, 1) - mean) / std for p in pixels])
    out = normalise(pixels, pre)
    assert out.dtype == torch.float32 and out.shape == (5, 3, 9, 7) and out.is_contiguous()
    assert torch.equal(out, expected)
    assert torch.equal(normalise(pixels[0], pre), expected[:1])  # one HxWx3 image -> a batch of one
    assert np.array_equal(pixels, before)
