"""The model-randomisation check for heatmaps (attribution/metrics/randomisation/randomised.py) and its sentence on the home page."""

from __future__ import annotations

from xai_report.attribution.metrics.randomisation import randomised
from xai_report.records import RandomisedSummary
from xai_report.render.attribution_text import randomised_line


def test_summary_counts_constant_maps_apart():
    images = [{"randomised": {"gradcam": {"spearman": 0.2}, "lime": {"spearman": None}}},
              {"randomised": {"gradcam": {"spearman": -0.4}, "lime": {"spearman": None}}},
              {"id": "no check"}]
    found = randomised.summary(images)
    assert found["gradcam"] == {"images": 2, "ranked": 2, "mean": -0.1, "min": -0.4, "max": 0.2}
    assert found["lime"] == {"images": 2, "ranked": 0, "mean": None, "min": None, "max": None}
    line = randomised_line({m: RandomisedSummary(**s) for m, s in found.items()}, {"gradcam": "Grad-CAM", "lime": "LIME"})
    assert "Grad-CAM -0.10" in line and "LIME constant maps on every image" in line
    assert randomised_line(None, {}) == ""
