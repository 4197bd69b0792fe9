"""The fc self-check, CLIP-Dissect's headline measure (Oikarinen & Weng, ICLR 2023, Sec. 4.1): label ``fc``
with the model's own class names as the concept set; each output neuron stands for one class, so a neuron is
right when its top-1 label is its class name (within the top 5, for the looser count).

Names are compared as text, so the two ImageNet classes both named "crane" count either one. The check reuses
the cached image features and activations; only the class names' text features are new.
"""

from __future__ import annotations

import torch

from ..models import LoadedModel
from .classifier import CLASSIFIER
from .concepts import ConceptSet
from .labelling import LABELS_K, Labeller

MISSES_SHOWN = 20
"""fc neurons whose top-1 label is not their class, listed on the overview page."""


def _r(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


def applies(model: LoadedModel, acts: dict[str, torch.Tensor]) -> bool:
    """Whether the model has an ``fc`` with one output per class name."""
    return CLASSIFIER in acts and acts[CLASSIFIER].shape[1] == len(model.class_names)


def self_check(labeller: Labeller, key: str, model_id: dict, model: LoadedModel, acts: dict[str, torch.Tensor],
               classes: ConceptSet, rows: list[dict]) -> dict:
    """The check's counts and shares (with chance levels) and its per-unit table; the model's ``fc`` rows get
    their ``class_name`` and ``self_check_rank`` (None when the class is not in the top 5)."""
    art = labeller.label_layer(key, model_id, CLASSIFIER, acts[CLASSIFIER], classes, with_null=False)
    per_unit = []
    for unit, (names, _) in enumerate(art.meta["labels"]):
        own = model.class_names[unit]
        per_unit.append({"unit": unit, "class": own, "label": names[0], "top5": names,
                         "rank": names.index(own) + 1 if own in names else None})
    n = len(per_unit)
    top1 = sum(1 for u in per_unit if u["rank"] == 1)
    top5 = sum(1 for u in per_unit if u["rank"] is not None)
    for r in rows:
        if r["layer"] == CLASSIFIER:
            r["class_name"] = per_unit[r["unit"]]["class"]
            r["self_check_rank"] = per_unit[r["unit"]]["rank"]
    return {"layer": CLASSIFIER, "neurons": n, "top1_count": top1, "top5_count": top5, "top1": _r(top1 / n),
            "top5": _r(top5 / n), "chance_top1": _r(1 / n), "chance_top5": _r(min(LABELS_K, n) / n),
            "units": per_unit}


def without_units(check: dict | None) -> dict | None:
    """The check as ``results.json`` holds it per model (the per-unit table goes to the CSV)."""
    return None if check is None else {k: v for k, v in check.items() if k != "units"}


def misses(check: dict | None, limit: int = MISSES_SHOWN) -> list[dict]:
    """The first fc neurons whose top-1 label is not their class (for the overview page)."""
    if check is None:
        return []
    return [{"unit": u["unit"], "class": u["class"], "label": u["label"], "rank": u["rank"]}
            for u in check["units"] if u["rank"] != 1][:limit]
