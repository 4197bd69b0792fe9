"""The model-randomisation test for heatmaps: does a method's map depend on what the model learned?

Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018, Sec. 3.1: explain the same image and class with
the trained model and with the same architecture whose weights were re-initialised
(:mod:`xai_report.models.randomise`), and compare the two maps. A method whose map barely changes is showing the
image (edges, colour, position) more than the model; one whose map changes completely passes the check. The
comparison is their Spearman rank correlation over pixels (:func:`.agreement.spearman`), near 0 for a method that
depends on the weights, near 1 for one that does not. The twin's maps are cached and exported like the trained ones
(``overlays/<image>_<method>_randomised.jpg``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ....cache import ArtifactCache
from ....models.classifiers import LoadedModel
from ....models.layers import resolve_layer
from ....models.randomise import randomised, twin_cache_id
from ....store import Artifact
from ....numbers import rounded
from .. import agreement
from ...methods.explainer import OVERLAY_FILE, Explainer, Explanation, Settings
from ...inputs import ImageInput
from ...methods.registry import METHODS
from ...subject import Subject, explanation


@dataclass
class Twin(Subject):
    """The study's model with re-initialised weights, and an explainer of every method bound to its layer."""

    explainers: dict[str, Explainer]


def make_twin(model: LoadedModel, settings: Settings, methods: list[str], layer_name: str, seed: int) -> Twin:
    """The randomised twin of ``model`` (seeded), on the settings' device, with its own explainers."""
    twin = randomised(model, seed)
    twin.module.to(settings.device).eval()
    own = Settings(settings.batch_size, resolve_layer(twin.module, layer_name), settings.preprocess, settings.device,
                   settings.seed, settings.method_tables, settings.layout)
    return Twin(twin.module, twin_cache_id(twin), {m: METHODS[m].make(own) for m in methods})


def compare(trained: dict[str, Artifact], twin_maps: dict[str, Artifact],
            export: Callable[[str, bytes], str], stem: str) -> dict:
    """Per method: the rank correlation of the trained and the randomised map, and the twin's exported overlay."""
    out = {}
    for method, art in trained.items():
        ours = Explanation.from_artifact(art).map
        theirs = Explanation.from_artifact(twin_maps[method]).map
        rho = agreement.spearman(np.asarray(ours), np.asarray(theirs))
        out[method] = {
            "spearman": rounded(rho),
            "overlay": export(f"overlays/{stem}_{method}_randomised.jpg",
                              twin_maps[method].file(OVERLAY_FILE).read_bytes()),
        }
    return out


def twin_maps(cache: ArtifactCache, twin: Twin, layer: str, seed: int, item: ImageInput,
              class_index: int) -> dict[str, Artifact]:
    """Explain ``class_index`` of ``item`` with the twin's methods on the twin (cached like any explanation, at
    ``layer``, seeded with ``seed``)."""
    return {m: explanation(cache, twin, m, e, layer, seed, item, class_index) for m, e in twin.explainers.items()}


def check(cache: ArtifactCache, twin: Twin, layer: str, seed: int, item: ImageInput, class_index: int,
          trained: dict[str, Artifact]) -> dict:
    """The twin's maps (:func:`twin_maps`) compared with the trained model's (:func:`compare`)."""
    found = twin_maps(cache, twin, layer, seed, item, class_index)
    return compare({m: trained[m] for m in twin.explainers}, found, cache.export, item.image_id)


def summary(images: list[dict]) -> dict:
    """Per method over the images: how many have a rank correlation (a constant map has none), its mean, min, max."""
    found: dict[str, list[float | None]] = {}
    for record in images:
        for method, entry in (record.get("randomised") or {}).items():
            found.setdefault(method, []).append(entry["spearman"])
    out = {}
    for method, values in found.items():
        known = [v for v in values if v is not None]
        out[method] = {"images": len(values), "ranked": len(known),
                       "mean": rounded(sum(known) / len(known)) if known else None,
                       "min": min(known, default=None), "max": max(known, default=None)}
    return out
