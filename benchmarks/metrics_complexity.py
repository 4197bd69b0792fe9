"""Complexity metrics: our registry entries against Quantus 0.6's classes, same maps, one run.

    python benchmarks/metrics_complexity.py [--repeat N]

Fixture (:mod:`metric_maps`): EfficientNet-Lite0 (packaged weights), 2 photos, 3 methods' maps at 224x224.
Each row: seconds per image of ours (all three methods in one call) and of Quantus (one call per image, the
three maps as its batch; one call per map where Quantus's batch-wide max-normalisation would change the number:
Sparseness, Effective Complexity), the ratio, the largest difference; every metric at its default settings
(Quantus's). None of these metrics runs the model: most of Quantus's time is its input checks
(``assert_attributions``).
"""

from __future__ import annotations

import argparse
import warnings

from metric_maps import fixture, print_table, quantus_call, time_pair

from xai_report.attribution.metrics.registry import METRICS

QUANTUS = {  # ours -> (Quantus class, one Quantus call per map)
    "sparseness": ("Sparseness", True),  # its epsilon is added after the batch-wide normalisation
    "complexity": ("Complexity", False),  # scale-invariant: the batched call gives the per-map numbers
    "effective_complexity": ("EffectiveComplexity", True),  # its threshold is a share of the batch's maximum
}


def main() -> None:
    import quantus

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    warnings.filterwarnings("ignore")  # Quantus's parameterisation warnings
    fix = fixture()
    rows = []
    for name, (cls, per_map) in QUANTUS.items():
        metric = METRICS[name]
        params = metric.parameters({})
        theirs = getattr(quantus, cls)(disable_warnings=True)
        rows.append(time_pair(name, lambda i: metric.compute(i, params, 0),
                              lambda i: quantus_call(theirs, i, with_boxes=False, per_map=per_map), fix, repeat))
    print_table(rows)


if __name__ == "__main__":
    main()
