"""Energy-based pointing game (Wang et al., "Score-CAM", CVPR Workshops 2020, Sec. 5) as a registry entry:
the share of the map's positive mass inside the object mask, :func:`.energy.energy_in_mask` (the formula is
there), computed by that function, not again here.

No Quantus class matches it exactly, hence the name: Quantus 0.6's ``AttributionLocalisation`` (Kohlbrenner et
al. 2020) takes absolute values by default (``abs=True``), which counts a signed map's negative evidence as
mass; with ``abs=False, positive_attributions=True`` it is this number, up to the 1e-9 it adds to the
denominator (``tests/test_metric_localisation.py``). Positive maps (the CAMs) score the same either way.
"""

from __future__ import annotations

import numpy as np

from ..base import Metric, MetricInput, NoParams, Passes, Score
from .against_boxes import score_against_boxes
from .energy import energy_in_mask

NO_POSITIVE = "the map has no positive mass"


def in_boxes(values: np.ndarray, mask: np.ndarray) -> Score:
    """:func:`energy_in_mask` as a :class:`Score`."""
    share = energy_in_mask(values, mask)
    return Score.absent(NO_POSITIVE) if share is None else Score.of(share)


def energy_pointing_game(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """Each method's share of positive mass in the boxes; no model pass."""
    return score_against_boxes(inputs, in_boxes)


METRIC = Metric(
    name="energy_pointing_game", title="Energy-based pointing game", family="localisation",
    citation="Wang et al., Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks, "
             "CVPR Workshops 2020",
    higher_is_better=True, compute=energy_pointing_game, cost=lambda params: Passes(0, 0),
    needs=frozenset({"boxes"}))
