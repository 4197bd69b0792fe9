"""MPRT, sMPRT, eMPRT and Random Logit: ours (all methods of an image per call, each randomised copy shared by the
methods) against Quantus 0.6's own call (one method per call; the same seed gives the same weights, the same draws
are handed to Quantus), on EfficientNet-Lite0 with its packaged weights (see ``rerun_bench.py`` for the line).

    python benchmarks/metrics_randomisation.py [--cascade-photos 1] [--cascade-methods gradient] [--smooth-samples 2]

The cascades are compared at Quantus's granularity (one step per layer: 99 for EfficientNet-Lite0, ``depth=20``),
on ``--cascade-photos`` photos and ``--cascade-methods`` only (every layer costs a re-run: on 2 cores the whole set
would take an hour); eMPRT and Random Logit on both photos and the three methods. ``default_s_per_image`` is for our
defaults (MPRT 12 block steps, sMPRT 12 steps and 10 samples, three methods).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from skimage.metrics import structural_similarity

from rerun_bench import RUNS, images, machine, quantus_explain, report, rerun_seconds

import quantus  # noqa: E402  (a benchmark-only reference, as in the tests)
from xai_report.attribution.metrics.randomisation import (  # noqa: E402
    cascade, efficient_mprt, mprt, random_logit, smooth_mprt)

SEED = 0
EVERY_LAYER = 20


def only(inputs, methods):
    return replace(inputs, maps={m: inputs.maps[m] for m in methods},
                   explainers={m: inputs.explainers[m] for m in methods})


def ours(compute, params, found, pick=lambda s: s.value):
    return lambda: {(i, m): pick(s) for i, inputs in enumerate(found) for m, s in compute(inputs, params, SEED).items()}


def batch(found):
    return (np.concatenate([i.x.numpy() for i in found]), np.array([i.target for i in found]))


def theirs_batched(make, found, methods, pick=lambda v: v):
    """One Quantus call per method on all the photos at once."""
    def call():
        x, y = batch(found)
        values = {}
        for m in methods:
            a = np.stack([i.maps[m] for i in found])[:, None]
            got = pick(make()(model=found[0].model, x_batch=x, y_batch=y, a_batch=a, device="cpu",
                              explain_func=quantus_explain(RUNS[m])))
            values.update({(i, m): got[i] for i in range(len(found))})
        return values
    return call


def ssim_2d(a, b, batched=True):
    side = int(round(np.sqrt(a.shape[-1])))
    out = []
    for x, y in zip(a, b):
        x, y = x.reshape(side, side), y.reshape(side, side)
        span = float(max(x.max(), y.max()) - min(x.min(), y.min()))
        out.append(structural_similarity(x, y, win_size=7, data_range=span))
    return out


def theirs_random_logit(found):
    """One Quantus call per photo and method: with several photos in a call, Quantus's ``normalise_by_max``
    divides by the largest magnitude of the whole batch (its ``normalise_axes=None``), ours by each map's own."""
    def call():
        values = {}
        saved = np.random.randint
        try:
            for i, inputs in enumerate(found):
                other = random_logit.other_class(1000, inputs.target, SEED)
                index = other if other < inputs.target else other - 1
                np.random.randint = lambda low, high, size: np.full(size, index)
                got = theirs_batched(lambda: quantus.RandomLogit(num_classes=1000, seed=SEED, similarity_func=ssim_2d,
                                                                 disable_warnings=True), [inputs], RUNS)()
                values.update({(i, m): v for (_, m), v in got.items()})
        finally:
            np.random.randint = saved
        return values
    return call


def theirs_smooth(found, methods, params):
    def call():
        values = {}
        saved_randn, saved_explain = np.random.randn, quantus.explain
        try:
            for i, inputs in enumerate(found):
                for m in methods:
                    run = RUNS[m]
                    stream = np.random.default_rng(SEED)
                    original = smooth_mprt.smoothed(run, inputs.model, inputs.x, inputs.target,
                                                    smooth_mprt.noises(inputs.x, params, np.random.default_rng(SEED)))
                    np.random.randn = lambda *shape: stream.standard_normal(shape)
                    quantus.explain = lambda model, inputs, targets, **kw: quantus_explain(run)(model, inputs, targets)
                    got = quantus.SmoothMPRT(seed=SEED, nr_samples=params.nr_samples, noise_magnitude=0.1,
                                             disable_warnings=True)(
                        model=inputs.model, x_batch=inputs.x.numpy(), y_batch=np.array([inputs.target]),
                        a_batch=original[None, None], device="cpu", explain_func=quantus_explain(run))
                    values[(i, m)] = list(got.values())[-1][0]
        finally:
            np.random.randn, quantus.explain = saved_randn, saved_explain
        return values
    return call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cascade-photos", type=int, default=1)
    parser.add_argument("--cascade-methods", default="gradient")
    parser.add_argument("--smooth-samples", type=int, default=2)
    parser.add_argument("--only", default="efficient_mprt,random_logit,mprt,smooth_mprt")
    args = parser.parse_args()
    machine()
    found = images()
    rerun_s = rerun_seconds(found[0])
    methods = args.cascade_methods.split(",")
    few = [only(i, methods) for i in found[:args.cascade_photos]]
    blocks = len(cascade.steps(found[0].model, "top_down", mprt.MPRTParams().depth))
    layers = len(cascade.steps(found[0].model, "top_down", EVERY_LAYER))
    wanted = args.only.split(",")
    if "efficient_mprt" in wanted:
        report("efficient_mprt", ours(efficient_mprt.efficient_mprt, efficient_mprt.EfficientMPRTParams(), found),
               theirs_batched(lambda: quantus.EfficientMPRT(seed=SEED, disable_warnings=True), found, RUNS),
               rerun_s, len(RUNS), f"{len(found)} photos x {len(RUNS)} methods")
    if "random_logit" in wanted:
        report("random_logit", ours(random_logit.random_logit, random_logit.NoParams(), found),
               theirs_random_logit(found), rerun_s, len(RUNS),
               f"{len(found)} photos x {len(RUNS)} methods; Quantus given the paper's 2-D SSIM")
    note = f"{len(few)} photo(s) x {methods}, one step per layer ({layers} steps) on both sides"
    if "mprt" in wanted:
        report("mprt", ours(mprt.mprt, mprt.MPRTParams(depth=EVERY_LAYER), few),
               theirs_batched(lambda: quantus.MPRT(seed=SEED, return_last_correlation=True, disable_warnings=True),
                              few, methods), rerun_s, len(RUNS) * blocks, note)
    if "smooth_mprt" in wanted:
        params = smooth_mprt.SmoothMPRTParams(nr_samples=args.smooth_samples, depth=EVERY_LAYER)
        report("smooth_mprt", ours(smooth_mprt.smooth_mprt, params, few), theirs_smooth(few, methods, params),
               rerun_s, len(RUNS) * (blocks + 1) * smooth_mprt.SmoothMPRTParams().nr_samples,
               note + f", nr_samples={args.smooth_samples}")


if __name__ == "__main__":
    main()
