"""The fc self-check, CLIP-Dissect's headline measure (Oikarinen & Weng, ICLR 2023, Sec. 4.1): label ``fc``
with the model's own class names as the concept set; each output neuron stands for one class, so a neuron is
right when its top-1 label is its class name (within the top 5, for the looser count).

Names are compared as text, so the two ImageNet classes both named "crane" count either one. The check reuses
the cached image features and activations; only the class names' text features are new.

With the ``labels`` concept source (:mod:`.label_concepts`) the classifier is labelled with the source's own
concepts (classes and WordNet ancestors, unique names), unit k's class being concept k: a unit is *exact* when
its top-1 label is its class and *class-or-ancestor* when it is its class or one of the class's ancestors.
"""

from __future__ import annotations

import torch

from ..models import LoadedModel
from ..numbers import rounded as _r
from .concepts import ConceptSet
from .label_concepts import LabelVocabulary
from .labelling import LABELS_K, Labeller

MISSES_SHOWN = 20
"""fc neurons whose top-1 label is not their class, listed on the overview page."""


def applies(model: LoadedModel, acts: dict[str, torch.Tensor], layer: str | None) -> bool:
    """Whether the model has a classifier ``layer`` with one output per class name."""
    return layer is not None and layer in acts and acts[layer].shape[1] == len(model.class_names)


def self_check(labeller: Labeller, key: str, model_id: dict, model: LoadedModel, layer: str,
               acts: dict[str, torch.Tensor], classes: ConceptSet) -> dict:
    """The check's counts and shares (with chance levels) and its per-unit table (:func:`unit_fields` gives the
    classifier's neuron rows their class and its rank)."""
    art = labeller.label_layer(key, model_id, layer, acts[layer], classes, with_null=False)
    per_unit = []
    for unit, (names, _) in enumerate(art.meta["labels"]):
        own = model.class_names[unit]
        per_unit.append({"unit": unit, "class": own, "label": names[0], "top5": names,
                         "rank": names.index(own) + 1 if own in names else None})
    return _summary(layer, per_unit)


def labels_self_check(labeller: Labeller, key: str, model_id: dict, layer: str, acts: dict[str, torch.Tensor],
                      concepts: ConceptSet, vocab: LabelVocabulary, rows: list[dict]) -> dict:
    """The check with the labels source: exact and class-or-ancestor counts. A dissected classifier's labels
    are read from its rows; one not dissected is labelled here."""
    own_rows = sorted((r for r in rows if r["layer"] == layer), key=lambda r: r["unit"])
    if own_rows:
        ranked = [[r["label"]] + [c for c, _ in r["runners_up"]] for r in own_rows]
    else:
        art = labeller.label_layer(key, model_id, layer, acts[layer], concepts, with_null=False)
        ranked = [names for names, _ in art.meta["labels"]]
    index = vocab.index()
    per_unit = []
    for unit, names in enumerate(ranked):
        own = vocab.names[unit]
        family = {own} | {vocab.names[index[a]] for a in vocab.ancestors[vocab.wnids[unit]]}
        per_unit.append({"unit": unit, "class": own, "label": names[0], "top5": names,
                         "rank": names.index(own) + 1 if own in names else None,
                         "class_or_ancestor": names[0] in family})
    check = _summary(layer, per_unit)
    hits = sum(1 for u in per_unit if u["class_or_ancestor"])
    return {**check, "class_or_ancestor_count": hits, "class_or_ancestor": _r(hits / len(per_unit))}


def _summary(layer: str, per_unit: list[dict]) -> dict:
    n = len(per_unit)
    top1 = sum(1 for u in per_unit if u["rank"] == 1)
    top5 = sum(1 for u in per_unit if u["rank"] is not None)
    return {"layer": layer, "neurons": n, "top1_count": top1, "top5_count": top5, "top1": _r(top1 / n),
            "top5": _r(top5 / n), "chance_top1": _r(1 / n), "chance_top5": _r(min(LABELS_K, n) / n),
            "units": per_unit}


def unit_fields(check: dict | None, row: dict) -> dict:
    """What a neuron row of the checked classifier adds: its ``class_name`` and ``self_check_rank`` (None when the
    class is not in the top 5); nothing for a row of another layer, or without a check."""
    if check is None or row["layer"] != check["layer"]:
        return {}
    unit = check["units"][row["unit"]]
    return {"class_name": unit["class"], "self_check_rank": unit["rank"]}


def without_units(check: dict | None) -> dict | None:
    """The check as ``results.json`` holds it per model (the per-unit table goes to the CSV)."""
    return None if check is None else {k: v for k, v in check.items() if k != "units"}


def misses(check: dict | None, limit: int = MISSES_SHOWN) -> list[dict]:
    """The first fc neurons whose top-1 label is not their class (for the overview page)."""
    if check is None:
        return []
    return [{"unit": u["unit"], "class": u["class"], "label": u["label"], "rank": u["rank"],
             "class_or_ancestor": u.get("class_or_ancestor")}
            for u in check["units"] if u["rank"] != 1][:limit]
