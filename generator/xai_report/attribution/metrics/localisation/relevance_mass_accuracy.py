"""Relevance Mass Accuracy (Arras et al., "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
neural network explanations", Information Fusion 81, 2022, Sec. 4.3): the share of the map's relevance that
lies inside the object mask ``B``,

.. math:: \\text{RMA} = \\frac{\\sum_{p \\in B} S(p)}{\\sum_p S(p)},

1 when all relevance is on the object. The map is used as given, as Quantus 0.6's ``RelevanceMassAccuracy``
(``abs=False``; its max-normalisation cancels in the ratio): a signed map's negative relevance counts against
the mass where it lies, so a signed map may score outside [0, 1]. A map whose relevance sums to zero has no
number (Quantus gives nan or inf). For the positive mass alone, see ``energy_pointing_game``.
"""

from __future__ import annotations

import numpy as np

from ..base import Metric, MetricInput, NoParams, Passes, Score
from .against_boxes import score_against_boxes

ZERO_SUM = "the map's relevance sums to zero"


def mass_inside(values: np.ndarray, mask: np.ndarray) -> Score:
    """The share of ``values``' sum inside ``mask`` (see the module docstring)."""
    total = float(values.sum())
    if total == 0.0:
        return Score.absent(ZERO_SUM)
    return Score.of(float(values[mask].sum()) / total)


def relevance_mass_accuracy(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """Each method's Relevance Mass Accuracy (module docstring); no model pass."""
    return score_against_boxes(inputs, mass_inside)


METRIC = Metric(
    name="relevance_mass_accuracy", title="Relevance Mass Accuracy", family="localisation",
    citation="Arras et al., CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural network "
             "explanations, Information Fusion 2022",
    higher_is_better=True, compute=relevance_mass_accuracy, cost=lambda params: Passes(0, 0),
    needs=frozenset({"boxes"}))
