"""Relevance Mass Accuracy (Arras et al., "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
neural network explanations", Information Fusion 81, 2022, Sec. 4.3): the share of the map's relevance that
lies inside the object mask ``B``,

.. math:: \\text{RMA} = \\frac{\\sum_{p \\in B} S(p)}{\\sum_p S(p)},

1 when all relevance is on the object, in [0, 1]. ``S`` is non-negative relevance: the map's absolute values by
default, or its positive part (``pooling``, :class:`.against_boxes.PooledParams`).

Where Quantus 0.6 and the paper differ, this follows the paper: Arras et al.'s evaluation code pools every
heatmap to non-negative relevance first (and asserts it), while Quantus's ``RelevanceMassAccuracy`` reads a
signed map as given by default (``abs=False``), so negative relevance subtracts and a signed map can score
outside [0, 1]. The default here equals Quantus with ``abs=True`` (its max-normalisation cancels in the ratio);
``pooling = "positive"`` is the energy-based pointing game's number (``energy_pointing_game``, Wang et al.'s
name for the same share of positive mass). A map without relevance has no number.
"""

from __future__ import annotations

import numpy as np

from ..base import Metric, MetricInput, Passes, Score
from .against_boxes import PooledParams, no_relevance, pooled, score_against_boxes
from .energy import mass_share


def mass_inside(values: np.ndarray, mask: np.ndarray, pooling: str) -> Score:
    """The share of the pooled relevance's sum inside ``mask`` (:func:`.energy.mass_share`)."""
    share = mass_share(pooled(values, pooling), mask)
    return no_relevance(pooling) if share is None else Score.of(share)


def relevance_mass_accuracy(inputs: MetricInput, params: PooledParams, seed: int) -> dict[str, Score]:
    """Each method's Relevance Mass Accuracy (module docstring); no model pass."""
    return score_against_boxes(inputs, lambda values, mask: mass_inside(values, mask, params.pooling))


METRIC = Metric(
    name="relevance_mass_accuracy", title="Relevance Mass Accuracy", family="localisation",
    citation="Arras et al., CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural network "
             "explanations, Information Fusion 2022",
    higher_is_better=True, compute=relevance_mass_accuracy, cost=lambda params: Passes(0, 0),
    params=PooledParams, needs=frozenset({"boxes"}))
