"""Relevance Rank Accuracy (Arras et al., "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
neural network explanations", Information Fusion 81, 2022, Sec. 4.3): of the ``K = |B|`` most relevant pixels,
the share that lies inside the object mask ``B``,

.. math:: \\text{RRA} = \\frac{|P_{\\text{top}K} \\cap B|}{K},

1 when the object's pixels are exactly the map's top ``K``. ``S`` is non-negative relevance, the map's absolute
values by default or its positive part (``pooling``, :class:`.against_boxes.PooledParams`): as for Relevance
Mass Accuracy, this follows the paper, whose evaluation pools every heatmap to non-negative relevance, where
Quantus 0.6's ``RelevanceRankAccuracy`` ranks a signed map as given by default (``abs=False``); the default
equals Quantus with ``abs=True`` (its max-normalisation keeps the order).

Ties: where the ``K``-th largest value ``t`` is shared by several pixels, the top ``K`` is not defined; the
pixels above ``t`` count fully and the ``K - |S > t|`` places left are shared among the pixels equal to ``t`` in
proportion, which is the expected score over every order of the tied pixels. Quantus 0.6 breaks ties by
``np.argsort``'s arbitrary order, so the two agree exactly on maps without ties at ``t`` (a CAM that is zero
on more than ``n - K`` pixels has such a tie).
"""

from __future__ import annotations

import numpy as np

from ..base import Metric, MetricInput, Passes, Score
from .against_boxes import PooledParams, no_relevance, pooled, score_against_boxes


def rank_accuracy(values: np.ndarray, mask: np.ndarray, pooling: str) -> Score:
    """The share of the top ``|mask|`` of the pooled relevance inside ``mask``, ties shared (module docstring)."""
    relevance = pooled(values, pooling)
    if not relevance.any():
        return no_relevance(pooling)
    flat, inside = relevance.ravel(), mask.ravel()
    k = int(inside.sum())
    kth = np.partition(flat, flat.size - k)[flat.size - k]
    above, tied = flat > kth, flat == kth
    places_left = k - int(above.sum())
    hits = int((above & inside).sum()) + places_left * int((tied & inside).sum()) / int(tied.sum())
    return Score.of(hits / k)


def relevance_rank_accuracy(inputs: MetricInput, params: PooledParams, seed: int) -> dict[str, Score]:
    """Each method's Relevance Rank Accuracy (module docstring); no model pass."""
    return score_against_boxes(inputs, lambda values, mask: rank_accuracy(values, mask, params.pooling))


METRIC = Metric(
    name="relevance_rank_accuracy", title="Relevance Rank Accuracy", family="localisation",
    citation="Arras et al., CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural network "
             "explanations, Information Fusion 2022",
    higher_is_better=True, compute=relevance_rank_accuracy, cost=lambda params: Passes(0, 0),
    params=PooledParams, needs=frozenset({"boxes"}))
