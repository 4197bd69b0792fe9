"""Benchmark the captum methods (issue 24): our batched map vs the straightforward captum call, per image.

    python benchmarks/methods_captum.py [--side 224] [--photos 2] [--batch-size 32] [--only NAME[,NAME...]]
                                        [--json FILE]

EfficientNet-Lite0 with its packaged ImageNet weights, on the first ``--photos`` study photos at ``--side`` px
(centre crop), each method at its default parameters. "ours" is the registry's explainer (``attribution.batch_size``
= ``--batch-size``); "captum" is the call a user would write: every pass of a method in one batch
(``IntegratedGradients`` without ``internal_batch_size``, ``NoiseTunnel`` without ``nt_samples_batch_size``,
``GradientShap`` as is) and one perturbation per pass (``Occlusion``, ``KernelShap``: ``perturbations_per_eval=1``),
with the same baselines and seeds. Prints one line per method: ``NAME ours_s=... captum_s=... ratio=...
max_abs_diff=...`` (ratio = captum_s / ours_s, seconds per image; max_abs_diff between the two exported maps).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))

from captum import attr  # noqa: E402

from xai_report.attribution.methods.baselines import baseline  # noqa: E402
from xai_report.attribution.methods.explainer import Settings  # noqa: E402
from xai_report.attribution.methods.kernel_shap import mean_colours  # noqa: E402
from xai_report.attribution.methods.registry import METHODS  # noqa: E402
from xai_report.attribution.methods.relu_check import corrected  # noqa: E402
from xai_report.attribution.methods.smoothgrad import noise_stdev  # noqa: E402
from xai_report.data import list_images, load_rgb, normalise, prepare  # noqa: E402
from xai_report.models import load_model  # noqa: E402
from xai_report.paths import DATA_DIR  # noqa: E402

NAMES = ["saliency", "inputxgradient", "integratedgradients", "smoothgrad", "gradientshap", "expectedgradients",
         "guidedbackprop", "guidedgradcam", "occlusion", "kernelshap"]  # deeplift refuses ReLU6 (one line)


def reduce(t: torch.Tensor, name: str) -> np.ndarray:
    t = t.detach()[0].double()
    return (t.abs().amax(0) if name == "saliency" else t.sum(0)).numpy().astype(np.float32)


def straightforward(name: str, model, layer, x, target, image, pre, explainer):
    """captum's call as a user writes it, with our defaults' parameters; the map reduced as we export it."""
    p = explainer.method
    seed = explainer.seed
    if name == "saliency":
        return reduce(attr.Saliency(model).attribute(x, target=target, abs=True), name)
    if name == "inputxgradient":
        return reduce(attr.InputXGradient(model).attribute(x, target=target), name)
    if name == "integratedgradients":
        return reduce(attr.IntegratedGradients(model).attribute(
            x, baselines=baseline(p.baseline, x, pre, seed), target=target, n_steps=p.steps, method=p.rule), name)
    if name == "smoothgrad":
        torch.manual_seed(seed)
        return reduce(attr.NoiseTunnel(attr.Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=p.samples, stdevs=noise_stdev(x, p.noise), target=target, abs=False),
            name)
    if name in ("gradientshap", "expectedgradients"):
        refs = explainer.references(x)
        np.random.seed(seed)
        torch.manual_seed(seed)
        return reduce(attr.GradientShap(model).attribute(x, baselines=refs, n_samples=p.samples, stdevs=p.stdev,
                                                         target=target), name)
    if name == "guidedbackprop":
        return reduce(attr.GuidedBackprop(corrected(model, x, name, True)).attribute(x, target=target), name)
    if name == "guidedgradcam":
        fixed = corrected(model, x, name, True)
        name_of = next(n for n, m in model.named_modules() if m is layer)
        return reduce(attr.GuidedGradCam(fixed, fixed.get_submodule(name_of)).attribute(x, target=target), name)
    if name == "occlusion":
        return reduce(attr.Occlusion(model).attribute(
            x, sliding_window_shapes=(3, p.window, p.window), strides=(3, p.stride, p.stride),
            baselines=baseline(p.baseline, x, pre, seed), target=target, perturbations_per_eval=1), name)
    if name == "kernelshap":
        segments = explainer.superpixels(image.rgb)
        hidden = normalise(mean_colours(image.rgb.astype(np.float64), segments).astype(np.float32), pre)
        torch.manual_seed(seed)
        found = attr.KernelShap(lambda t: torch.softmax(model(t), 1)).attribute(
            x, baselines=hidden, target=target, feature_mask=torch.as_tensor(segments, dtype=torch.long)[None, None],
            n_samples=p.samples, perturbations_per_eval=1)
        return found.detach()[0, 0].numpy().astype(np.float32)
    raise ValueError(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--photos", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    loaded = load_model({"source": "packaged"}, offline=True)
    model = loaded.module.eval()
    pre = replace(loaded.preprocess, resize=round(args.side * 256 / 224), crop=args.side)
    layer = model.get_submodule("bn2")
    settings = Settings(args.batch_size, layer, pre, torch.device("cpu"), 0)
    photos = [prepare(load_rgb(p), pre) for p in list_images(DATA_DIR / "images")[: args.photos]]
    rows = []
    for name in args.only.split(",") if args.only else NAMES:
        explainer = METHODS[name].make(settings)
        ours_s = captum_s = diff = 0.0
        for image in photos:
            x = image.tensor
            with torch.no_grad():
                target = int(model(x).argmax())
            start = time.perf_counter()
            torch.manual_seed(0)
            ours = explainer.explain(model, image, target).map
            ours_s += time.perf_counter() - start
            start = time.perf_counter()
            with torch.enable_grad():
                theirs = straightforward(name, model, layer, x, target, image, pre, explainer)
            captum_s += time.perf_counter() - start
            diff = max(diff, float(np.abs(ours - theirs).max()))
        row = {"name": name, "ours_s": ours_s / len(photos), "captum_s": captum_s / len(photos),
               "ratio": captum_s / ours_s, "max_abs_diff": diff, "side": args.side}
        rows.append(row)
        print(f"{name} ours_s={row['ours_s']:.2f} captum_s={row['captum_s']:.2f} ratio={row['ratio']:.2f} "
              f"max_abs_diff={diff:.2e}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
