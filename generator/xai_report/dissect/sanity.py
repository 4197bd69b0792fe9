"""A dissected layer's tests, beside its randomised twin's: the thresholds a label must clear, and its quality.

For one layer of a trained model and the same layer of its re-initialised copy (:mod:`xai_report.models.randomise`),
both labelled by soft-WPMI over the same probe and concepts (:class:`.labelling.Labeller`):

* the thresholds: the shuffled-activation null (:mod:`.null`) and the randomised-model null
  (:func:`.quality.random_threshold`); a label is trusted when it clears both (``threshold`` is their maximum);
* the numbers that say how good the labels are (:func:`.quality.summarise`) for both models, and for the twin the
  share of its (held-out) neurons that would be labelled by the trained layer's threshold: Adebayo et al.
  ("Sanity Checks for Saliency Maps", NeurIPS 2018)'s test, applied to labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .concepts import ConceptSet
from ..numbers import rounded as _r
from .labelling import Labeller
from .quality import half_sizes, held_out_false_positives, random_threshold, summarise
from .wpmi import constant_neurons


def _top1_scores(labels: list) -> torch.Tensor:
    return torch.tensor([scores[0] for _, scores in labels], dtype=torch.float64)


@dataclass
class Twin:
    """Where a model's randomised copy is found: its key in the stage's feature store and its cache identity."""

    key: str
    model_id: dict
    acts: dict[str, torch.Tensor]


@dataclass
class LayerTests:
    """One layer's thresholds (by test, and the one applied) and its twin's top-1 scores and own shuffle null."""

    thresholds: dict[str, float | None]
    threshold: float
    twin_scores: torch.Tensor
    twin_shuffle_threshold: float


def thresholds(labeller: Labeller, layer: str, trained_meta: dict, twin: Twin, cs: ConceptSet) -> LayerTests:
    """Label the twin's layer (with its own shuffled-activation null) and set the trained layer's thresholds."""
    art = labeller.label_layer(twin.key, twin.model_id, layer, twin.acts[layer], cs, with_null=True)
    scores = _top1_scores(art.meta["labels"])
    random = random_threshold(scores, ~constant_neurons(twin.acts[layer]))
    found = {"shuffle": trained_meta["threshold"], "random": _r(random)}
    return LayerTests(found, max(t for t in found.values() if t is not None), scores, art.meta["threshold"])


def layer_quality(labeller: Labeller, key: str, model_id: dict, layer: str, acts: torch.Tensor, rows: list[dict],
                  tests: LayerTests, twin: Twin, cs: ConceptSet) -> dict:
    """The layer's ``quality`` entry: thresholds, the trained layer's stability and precision, and the twin's."""
    alive = ~constant_neurons(acts)
    labelled = torch.tensor([r["semantic"] for r in sorted(rows, key=lambda r: r["unit"])], dtype=torch.bool)
    found = labeller.split_half(key, model_id, layer, acts, cs)
    shuffle = sum(1 for r in rows if r["passes"]["shuffle"] and not r["dead"])
    t_acts = twin.acts[layer]
    t_alive = ~constant_neurons(t_acts)
    scores = tests.twin_scores
    t_found = labeller.split_half(twin.key, twin.model_id, layer, t_acts, cs)
    hits, held = held_out_false_positives(scores, t_alive, tests.threshold)
    above_shuffle = int(((scores >= tests.twin_shuffle_threshold) & t_alive).sum())
    return {
        "thresholds": tests.thresholds, "threshold": _r(tests.threshold),
        "trained": {**summarise(found, alive, labelled, cs.ancestors, half_sizes(acts.shape[0])),
                    "above_own_shuffle_null": shuffle,
                    "above_own_shuffle_null_share": _r(shuffle / max(int(alive.sum()), 1))},
        "randomised": {
            **summarise(t_found, t_alive, (scores >= tests.threshold) & t_alive, cs.ancestors,
                        half_sizes(t_acts.shape[0])),
            "above_own_shuffle_null": above_shuffle,
            "above_own_shuffle_null_share": _r(above_shuffle / max(int(t_alive.sum()), 1)),
            "held_out_units": held, "held_out_above_threshold": hits,
            "held_out_above_threshold_share": _r(hits / held) if held else None,
        },
    }
