"""The per-neuron table of one layer: label and runners-up, semantic and dead flags, importance and rank,
top images. Its rows are what the summaries count, the CSVs list and the layer pages show."""

from __future__ import annotations

import torch

from ..models import LoadedModel
from ..numbers import rounded as _r
from .importance import layer_importance
from .wpmi import constant_neurons, top_images


def neuron_rows(model: LoadedModel, layer: str, acts: dict[str, torch.Tensor], labels: list,
                thresholds: dict[str, float | None], pool: str, n_top: int) -> list[dict]:
    """One row per neuron of ``layer``. ``labels`` are the labelling artifact's ``[[concepts], [scores]]`` per
    neuron (best first), ``thresholds`` the layer's null thresholds by test (``shuffle``: the shuffled-activation
    null, :mod:`.null`; ``random``: the randomised-model null, :mod:`.quality`; None = not run), ``n_top`` the
    top images kept per neuron.

    A neuron is *semantic* (its label is trusted) when its label scores at or above every threshold and it is not
    dead: a dead (constant) neuron's "top" images are just the first ones, so its label means nothing.
    """
    a = acts[layer]
    dead = constant_neurons(a).tolist()
    scores = torch.tensor([s[0] for _, s in labels])
    importance, kind = layer_importance(model, layer, acts, scores, pool)
    order = sorted(range(a.shape[1]), key=lambda u: (-float(importance[u]), u))
    rank = {u: i + 1 for i, u in enumerate(order)}
    mean = a.mean(dim=0).tolist()
    tops = top_images(a, n_top)
    rows = []
    for unit, (names, vals) in enumerate(labels):
        rows.append({
            "layer": layer, "unit": unit, "label": names[0], "similarity": vals[0],
            "runners_up": [[c, s] for c, s in zip(names[1:], vals[1:])],
            "passes": {test: bool(t is None or vals[0] >= t) for test, t in thresholds.items()},
            "semantic": bool(all(t is None or vals[0] >= t for t in thresholds.values()) and not dead[unit]),
            "dead": bool(dead[unit]),
            "mean_activation": _r(mean[unit]),
            "importance": _r(importance[unit]), "importance_kind": kind, "rank": rank[unit],
            "top_images": tops[:, unit].tolist(),
        })
    return rows
