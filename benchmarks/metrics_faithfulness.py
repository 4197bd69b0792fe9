"""Benchmark the faithfulness and axiomatic metrics against Quantus 0.6's (and captum's) own calls, in one run.

    python benchmarks/metrics_faithfulness.py [--images N]

EfficientNet-Lite0 (packaged weights), the first N photos of data/images (default 2) at 224 x 224, three maps per
image (the logit's gradient, gradient x input, a smooth random map). Per metric one line
``NAME ours_s=... library_s=... ratio=... max_abs_diff=...`` (seconds over all images; ratio = library / ours). The
library gets the same draws and the same black (pixel zeros, normalised) through its ``perturb_func``, so the
differences are float noise. ROAD has no library call that runs here (Quantus's fails on colour images with
one-channel maps): its line times Quantus's ``noisy_linear_imputation`` against ours on a sixth of the same masks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import quantus
import torch
from captum.metrics import infidelity as captum_infidelity
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "generator"))

from xai_report.attribution.metrics.axiomatic import completeness, input_invariance  # noqa: E402
from xai_report.attribution.metrics.base import MetricInput, NoParams  # noqa: E402
from xai_report.attribution.metrics.faithfulness import (faithfulness_correlation as fc, imputation,  # noqa: E402
                                                         infidelity, pixel_flipping, road)
from xai_report.attribution.metrics.faithfulness.baseline import black_input  # noqa: E402
from xai_report.models import load_model  # noqa: E402


def gradient(model, x, target, times_input=False):
    x = x.clone().requires_grad_(True)
    model(x)[0, target].backward()
    return (x.grad * x if times_input else x.grad).sum(1)[0].detach().numpy().astype(np.float32)


def prepared(path, pre):
    rgb = np.asarray(Image.open(path).convert("RGB").resize((224, 224)), np.float32) / 255
    return ((torch.from_numpy(rgb).permute(2, 0, 1) - torch.tensor(pre.mean)[:, None, None])
            / torch.tensor(pre.std)[:, None, None])[None].float()


def timed(run):
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    loaded = load_model({"source": "packaged"}, offline=True)
    model, pre = loaded.module.eval(), loaded.preprocess
    rows = {}
    for path in sorted((ROOT / "data" / "images").glob("*.JPEG"))[: args.images]:
        x = prepared(path, pre)
        target = int(model(x).argmax())
        smooth = torch.nn.functional.interpolate(torch.rand(1, 1, 7, 7, generator=torch.Generator().manual_seed(0)),
                                                 size=(224, 224), mode="bilinear")[0, 0].numpy()
        maps = {"gradient": gradient(model, x, target), "gradient_x_input": gradient(model, x, target, True),
                "random": smooth.astype(np.float32)}
        inputs = MetricInput(model=model, x=x, target=target, maps=maps, preprocess=pre,
                             explainers={"gradient": gradient})
        xb, yb, black = x.numpy(), np.array([target]), black_input(x, pre).numpy().reshape(1, -1)

        def blacken(arr, indices, **kw):
            out = arr.copy()
            out[np.arange(arr.shape[0])[:, None], indices] = black[0, indices]
            return out

        def add(name, ours_s, lib_s, diff):
            o, l, d = rows.get(name, (0.0, 0.0, 0.0))
            rows[name] = (o + ours_s, l + lib_s, max(d, diff))
            print(f"{path.name} {name} ours_s={ours_s:.3f} library_s={lib_s:.3f} max_diff={diff:.2e}", flush=True)

        # Faithfulness Correlation (defaults: 100 runs, 224 values).
        p = fc.FaithfulnessCorrelationParams()
        t_ours, ours = timed(lambda: fc.faithfulness_correlation(inputs, p, 0))
        drawn = fc.subsets(xb[0].size, p.subset_size, p.runs, 0)
        t_lib, diff = 0.0, 0.0
        for m, a in maps.items():
            it = iter(drawn)
            saved, np.random.choice = np.random.choice, lambda n, size, replace: next(it)
            t, theirs = timed(lambda: quantus.FaithfulnessCorrelation(disable_warnings=True, perturb_func=blacken)(
                model=model, x_batch=xb, y_batch=yb, a_batch=a[None, None], device="cpu"))
            np.random.choice = saved
            t_lib += t
            diff = max(diff, abs(ours[m].value - theirs[0]))
        add("faithfulness_correlation", t_ours, t_lib, diff)

        # Infidelity (defaults: 10 Gaussian perturbations, sigma 0.2, least-squares scale) vs captum.
        p = infidelity.InfidelityParams()
        t_ours, ours = timed(lambda: infidelity.infidelity(inputs, p, 0))
        noise = torch.from_numpy(infidelity.perturbations(xb.shape[1:], p.samples, p.noise, 0)).float()
        t_lib, diff = 0.0, 0.0
        for m, a in maps.items():
            attr = torch.from_numpy(np.broadcast_to(a, xb.shape).copy())
            t, theirs = timed(lambda: captum_infidelity(model, lambda i: (noise, i - noise), x, attr, target=target,
                                                        n_perturb_samples=p.samples, normalize=True))
            t_lib += t
            diff = max(diff, abs(ours[m].value - float(theirs)) / max(abs(float(theirs)), 1e-12))
        add("infidelity (vs captum, relative diff)", t_ours, t_lib, diff)

        # Pixel-Flipping at 48 steps (Quantus needs H*W divisible by its features per step: 3 * 224^2 / 48).
        p = pixel_flipping.PixelFlippingParams(steps=48)
        t_ours, ours = timed(lambda: pixel_flipping.pixel_flipping(inputs, p, 0))
        t_lib, diff = 0.0, 0.0
        for m, a in maps.items():
            t, theirs = timed(lambda: quantus.PixelFlipping(features_in_step=3 * 224 * 224 // 48, perturb_func=blacken,
                                                            disable_warnings=True)(
                model=model, x_batch=xb, y_batch=yb, a_batch=a[None, None], device="cpu")[0])
            t_lib += t
            diff = max(diff, float(np.abs(np.array(ours[m].curve) - theirs).max()))
        add("pixel_flipping (48 steps)", t_ours, t_lib, diff)
        t64, _ = timed(lambda: pixel_flipping.pixel_flipping(inputs, pixel_flipping.PixelFlippingParams(), 0))
        add("pixel_flipping at default 64 steps (ours only)", t64, 0.0, 0.0)

        # ROAD: our whole metric at defaults; and our imputation vs Quantus's on the same masks (no noise).
        t_road, _ = timed(lambda: road.road(inputs, road.RoadParams(), 0))
        add("road at defaults (ours only)", t_road, 0.0, 0.0)
        image = xb[0].astype(np.float64)
        masks = [road.removal_masks(a, road.RoadParams().percentages).reshape(-1, 224, 224) for a in maps.values()]
        t_ours = t_lib = diff = 0.0
        for mask in np.concatenate(masks)[::6]:
            t, ours_img = timed(lambda: imputation.impute(image, mask, 0.0, np.zeros_like(image)))
            t_ours += t
            t, theirs = timed(lambda: quantus.functions.perturb_func.noisy_linear_imputation(
                image, np.flatnonzero(mask), noise=0.0))
            t_lib += t
            diff = max(diff, float(np.abs(ours_img - theirs).max()))
        add("road imputation (a sixth of the masks)", t_ours, t_lib, diff)

        # Completeness vs Quantus (map in channel 0 of three, so Quantus blackens every value).
        t_ours, ours = timed(lambda: completeness.completeness(inputs, NoParams(), 0))
        t_lib, diff = 0.0, 0.0
        for m, a in maps.items():
            seen = []
            t, _ = timed(lambda: quantus.Completeness(normalise=False, disable_warnings=True, perturb_func=blacken,
                                                      output_func=lambda d: seen.append(d) or d)(
                model=model, x_batch=xb, y_batch=yb, a_batch=np.pad(a[None, None], ((0, 0), (0, 2), (0, 0), (0, 0))),
                device="cpu"))
            t_lib += t
            change = float(seen[0][0])
            diff = max(diff, abs(ours[m].value - abs(float(a.sum()) - change) / abs(change)))
        add("completeness", t_ours, t_lib, diff)

        # Input Invariance, the gradient re-run (EfficientNet's stem has no bias: ours adds one).
        only = MetricInput(model=model, x=x, target=target, maps={"gradient": maps["gradient"]}, preprocess=pre,
                           explainers={"gradient": gradient})
        t_ours, ours = timed(lambda: input_invariance.input_invariance(only, input_invariance.InputInvarianceParams(), 0))
        add(f"input_invariance (gradient: {ours['gradient'].value}; ours only)", t_ours, 0.0, 0.0)

    n = args.images
    print(f"{'metric':58s} {'ours s/img':>10s} {'library s/img':>13s} {'ratio':>7s} {'max diff':>9s}")
    for name, (o, l, d) in rows.items():
        ratio = f"{l / o:7.1f}" if l else "      -"
        print(f"{name:58s} {o / n:10.3f} {l / n:13.3f} {ratio} {d:9.2e}")


if __name__ == "__main__":
    main()
