"""Localisation metrics: our registry entries against Quantus 0.6's classes, same maps and boxes, one run.

    python benchmarks/metrics_localisation.py [--repeat N]

Fixture (:mod:`metric_maps`): EfficientNet-Lite0 (packaged weights), 2 photos with boxes, 3 methods' maps at
224x224. Each row: seconds per image of ours (all three methods in one call) and of Quantus (one call per image,
the three maps as its batch), the ratio, the largest difference. ``pointing_game`` is compared at
``tolerance = 0`` (Quantus has none) and also timed at its default (15 px, the paper's); the relevance
accuracies at their default (``pooling = "abs"``, the paper's) against Quantus with ``abs=True``;
``energy_pointing_game`` against ``AttributionLocalisation(abs=False, positive_attributions=True)``.
``relevance_rank_accuracy`` differs where a map ties at its K-th value (ours shares the tie, Quantus takes
argsort's order): the table gives the difference over all maps and, separately, over the signed map (no ties).
None of these metrics runs the model: most of Quantus's time is its input checks (``assert_attributions``).
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace

from metric_maps import Fixture, fixture, print_table, quantus_call, time_pair

from xai_report.attribution.metrics.registry import METRICS

SETTINGS = {  # ours -> (Quantus class, its options, our parameters for the comparison)
    "pointing_game": ("PointingGame", {}, {"tolerance": 0}),
    "relevance_mass_accuracy": ("RelevanceMassAccuracy", {"abs": True}, {}),  # our default: the paper's |S|
    "relevance_rank_accuracy": ("RelevanceRankAccuracy", {"abs": True}, {}),
    "energy_pointing_game": ("AttributionLocalisation", {"abs": False, "positive_attributions": True}, {}),
}


def main() -> None:
    import quantus

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    warnings.filterwarnings("ignore")  # Quantus's parameterisation and box-size warnings
    fix = fixture()
    rows = []
    for name, (cls, options, ours_params) in SETTINGS.items():
        metric = METRICS[name]
        params = metric.parameters(ours_params)
        theirs = getattr(quantus, cls)(disable_warnings=True, **options)
        rows.append(time_pair(name, lambda i: metric.compute(i, params, 0),
                              lambda i: quantus_call(theirs, i, with_boxes=True), fix, repeat))
    default = METRICS["pointing_game"].parameters({})
    rows.append(time_pair("pointing_game (tolerance 15, vs Quantus at 0)",
                          lambda i: METRICS["pointing_game"].compute(i, default, 0),
                          lambda i: quantus_call(quantus.PointingGame(disable_warnings=True), i, True), fix, repeat))
    signed = Fixture([replace(i, maps={"gradient_x_input": i.maps["gradient_x_input"]}) for i in fix.inputs])
    rank = METRICS["relevance_rank_accuracy"]
    rows.append(time_pair("relevance_rank_accuracy (signed map only)",
                          lambda i: rank.compute(i, rank.parameters({}), 0),
                          lambda i: quantus_call(quantus.RelevanceRankAccuracy(abs=True, disable_warnings=True), i,
                                                 True),
                          signed, repeat))
    print_table(rows)


if __name__ == "__main__":
    main()
