"""Max-Sensitivity and Local Lipschitz Estimate: ours (all methods of an image per call, the perturbed inputs
shared) against Quantus 0.6's own call (one method and one image per call, the same draws), on EfficientNet-Lite0
with its packaged weights, two photos and three methods (see ``rerun_bench.py`` for the printed line).

    python benchmarks/metrics_robustness.py [--samples N]   # N perturbed inputs on both sides (default 3)

Both sides spend the same re-runs of the methods (``nr_samples`` per method and image); what ours saves is
Quantus's per-call set-up and per-sample checks, so the ratio stays near 1 (the re-runs dominate).
"""

from __future__ import annotations

import argparse

import numpy as np

from rerun_bench import RUNS, images, machine, quantus_explain, report, rerun_seconds

import quantus  # noqa: E402  (a benchmark-only reference, as in the tests)
from xai_report.attribution.metrics.robustness import local_lipschitz_estimate as lle  # noqa: E402
from xai_report.attribution.metrics.robustness import max_sensitivity as ms  # noqa: E402

SEED = 0


def ours(compute, params, found):
    return lambda: {(i, m): s.value for i, inputs in enumerate(found)
                    for m, s in compute(inputs, params, SEED).items()}


def theirs(make, draws: str, found):
    def call():
        values = {}
        for i, inputs in enumerate(found):
            for m in RUNS:
                stream = np.random.default_rng(SEED)
                saved = getattr(np.random, draws)
                setattr(np.random, draws, {
                    "uniform": lambda low, high, size: stream.uniform(low, high, size=size),
                    "normal": lambda loc, scale, size: stream.normal(loc, scale, size=size)}[draws])
                try:
                    values[(i, m)] = make()(model=inputs.model, x_batch=inputs.x.numpy(),
                                            y_batch=np.array([inputs.target]), a_batch=inputs.maps[m][None, None],
                                            device="cpu", explain_func=quantus_explain(RUNS[m]))[0]
                finally:
                    setattr(np.random, draws, saved)
        return values
    return call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=3)
    n = parser.parse_args().samples
    machine()
    found = images()
    rerun_s = rerun_seconds(found[0])
    note = f"{len(found)} photos x {len(RUNS)} methods, nr_samples={n} on both sides"
    report("max_sensitivity", ours(ms.max_sensitivity, ms.MaxSensitivityParams(nr_samples=n), found),
           theirs(lambda: quantus.MaxSensitivity(nr_samples=n, lower_bound=0.2, disable_warnings=True), "uniform",
                  found), rerun_s, len(RUNS) * ms.MaxSensitivityParams().nr_samples, note)
    report("local_lipschitz_estimate",
           ours(lle.local_lipschitz_estimate, lle.LocalLipschitzEstimateParams(nr_samples=n), found),
           theirs(lambda: quantus.LocalLipschitzEstimate(nr_samples=n, perturb_std=0.1, disable_warnings=True),
                  "normal", found), rerun_s, len(RUNS) * lle.LocalLipschitzEstimateParams().nr_samples, note)


if __name__ == "__main__":
    main()
