"""The attribution stage's map measures, each image in cached artifacts of their own: localisation against
object boxes (:mod:`.energy`), spread and concentration (:mod:`.concentration`), and the stability of the
``attribution.stability_methods`` (LIME in the shipped studies) across seeds (:mod:`.stability`).

They live apart from the ``metrics`` artifact (faithfulness, the slow part), so that editing one of these
modules recomputes these numbers only. The extra runs for the stability are ordinary explanations with
another seed, stored under the same kind of key as the study's own (a study whose seed is one of them reuses
it). The per-image work (:mod:`.image`) calls :meth:`MapMeasures.for_image`; the stage calls :func:`summary` once.

``results.json`` gets, per image, ``map_measures`` (``boxes``: the boxes' count, objects and area share in
the input frame, or why there are none; ``methods``: per method ``energy_in_boxes``, ``spread_half_max`` and
``gini``) and, with ``stability_methods``, ``seed_stability`` (per method: the seeds and their agreement);
the section gets ``map_measures``: the means over the images.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ...cache import ArtifactCache
from ...data import load_rgb
from ...numbers import rounded as _r
from ...store import Artifact
from .localisation import boxes, energy
from .complexity import concentration
from .robustness import stability
from ..methods.explainer import Explainer, Explanation, Settings
from ..inputs import ImageInput
from ..methods.registry import METHODS
from ..subject import Subject, explanation

MEASURES_CODE = (__name__,)
"""What computes the map measures: this module (its ``compute`` below), with its import closure."""
STABILITY_CODE = (__name__,)
"""What computes the seed stability: this module (its ``compute``), with its import closure."""




class MapMeasures:
    """Per-image measures of a model's maps (see the module docstring).

    Args:
        boxes_file: the study's object boxes (``attribution.boxes``), or None.
        settings: the study's explainer settings (the model's target layer, preprocessing, device and seed); the
            reruns take them with another seed.
        stability_methods: the methods rerun with ``extra_seeds`` (``attribution.stability_methods``).
        extra_seeds: the seeds of the reruns (the study's seed + 1, + 2, ...).
    """

    def __init__(self, boxes_file: Path | None, settings: Settings, stability_methods: list[str],
                 extra_seeds: list[int]) -> None:
        self.boxes_file = boxes_file
        self.boxes = boxes.read_boxes(boxes_file) if boxes_file else {}
        self.settings = settings
        self.stability_methods = list(stability_methods)
        self.extra_seeds = list(extra_seeds)
        self._seed_explainers: dict[tuple[str, int], Explainer] = {}

    def for_image(self, cache: ArtifactCache, subject: Subject, layer: str, item: ImageInput, class_index: int,
                  artifacts: dict[str, Artifact]) -> tuple[dict, dict[str, float]]:
        """The image record's ``map_measures`` and (with ``stability_methods``) ``seed_stability`` for the maps
        ``artifacts`` of ``subject`` at ``layer``; and the reruns' compute seconds (``<method>_extra_seeds``)."""
        found = {"map_measures": self._measures(cache, subject, item, artifacts).meta["measures"]}
        timings: dict[str, float] = {}
        if self.stability_methods:
            found["seed_stability"] = {}
            for m in self.stability_methods:
                found["seed_stability"][m], timings[f"{m}_extra_seeds"] = self._stability(
                    cache, subject, layer, item, m, class_index, artifacts[m])
        return found, timings

    # -- localisation, spread, concentration ---------------------------------------------------

    def _measures(self, cache: ArtifactCache, subject: Subject, item: ImageInput,
                  artifacts: dict[str, Artifact]) -> Artifact:
        marked = self.boxes.get(item.path.name)
        key = cache.key("map_measures", code=MEASURES_CODE, model=subject.model_key, image=item.sha256,
                        boxes=None if marked is None else marked.to_json(),
                        maps={m: a.meta["_key"] for m, a in artifacts.items()})

        def compute():
            mask, where = self._mask(item, marked)
            per_method = {}
            for method, artifact in artifacts.items():
                saliency = Explanation.from_artifact(artifact).map
                per_method[method] = {
                    "energy_in_boxes": None if mask is None else _r(energy.energy_in_mask(saliency, mask)),
                    "spread_half_max": _r(concentration.spread(saliency)),
                    "gini": _r(concentration.gini(saliency)),
                }
            return {"kind": "map_measures", "measures": {"boxes": where, "methods": per_method}}, {}

        return cache.cached(key, compute)

    def box_mask(self, item: ImageInput) -> tuple[np.ndarray | None, list | None, str | None]:
        """``item``'s boxes in the model's input frame, as the registry metrics take them: the mask (None when there
        is none), the boxes as cache keys hold them, and why there is no mask."""
        marked = self.boxes.get(item.path.name)
        mask, where = self._mask(item, marked)
        return mask, None if marked is None else marked.to_json(), where.get("absent")

    def _mask(self, item: ImageInput, marked: boxes.ImageBoxes | None) -> tuple[np.ndarray | None, dict]:
        """The boxes' input-frame mask and their description, or None and the reason there is none."""
        if self.boxes_file is None:
            return None, {"absent": "the study names no boxes file (attribution.boxes)"}
        if marked is None:
            return None, {"absent": f"{item.path.name} has no row in {self.boxes_file.name}"}
        if not marked.boxes:
            return None, {"count": 0, "absent": f"{self.boxes_file.name} marks no object in {item.path.name} (its row has no box)"}
        size = load_rgb(item.path).size
        mask = boxes.input_mask(marked, size, self.settings.preprocess)
        if not mask.any():
            return None, {"absent": f"the boxes of {item.path.name} fall outside the model's centre crop"}
        return mask, {"count": len(marked.boxes), "objects": sorted({b.name for b in marked.boxes}),
                      "area_share": _r(energy.area_share(mask))}

    # -- a method across seeds -----------------------------------------------------------------

    def _stability(self, cache: ArtifactCache, subject: Subject, layer: str, item: ImageInput, method: str,
                   class_index: int, own: Artifact) -> tuple[dict, float]:
        """The method's seed agreement on this image, and the reruns' compute seconds."""
        seed = self.settings.seed
        runs = {seed: own}
        for extra in self.extra_seeds:
            runs[extra] = explanation(cache, subject, method, self._explainer(method, extra), layer, seed, item,
                                      class_index)
        seconds = sum(runs[s].meta["seconds"] for s in self.extra_seeds)
        key = cache.key("seed_stability", code=STABILITY_CODE, maps={str(s): a.meta["_key"] for s, a in runs.items()})

        def compute():
            found = {s: Explanation.from_artifact(a).map for s, a in runs.items()}
            return {"kind": "seed_stability", "stability": stability.seed_agreement(found)}, {}

        return cache.cached(key, compute).meta["stability"], round(seconds, 3)

    def _explainer(self, method: str, seed: int) -> Explainer:
        """The method's explainer with another seed (made once per build)."""
        if (method, seed) not in self._seed_explainers:
            self._seed_explainers[(method, seed)] = METHODS[method].make(replace(self.settings, seed=seed))
        return self._seed_explainers[(method, seed)]


def _mean(values: list[float]) -> float | None:
    return _r(float(np.mean(values))) if values else None


def summary(images: list[dict], methods: list[str]) -> dict:
    """Means over the images: per method the energy in the boxes and the chance level over the images that
    have boxes (and how many of them beat it), the spread and the Gini index; each rerun method's mean seed
    agreement."""
    out: dict = {"methods": {}}
    boxed = [r for r in images if "area_share" in r.get("map_measures", {}).get("boxes", {})]
    for m in methods:
        rows = [r["map_measures"]["methods"][m] for r in images if m in r.get("map_measures", {}).get("methods", {})]
        pairs = [(r["map_measures"]["methods"][m]["energy_in_boxes"], r["map_measures"]["boxes"]["area_share"])
                 for r in boxed if r["map_measures"]["methods"].get(m, {}).get("energy_in_boxes") is not None]
        out["methods"][m] = {
            "images_with_boxes": len(pairs),
            "energy_in_boxes": _mean([e for e, _ in pairs]),
            "energy_chance": _mean([c for _, c in pairs]),
            "energy_above_chance": sum(1 for e, c in pairs if e > c),
            "spread_half_max": _mean([v["spread_half_max"] for v in rows if v["spread_half_max"] is not None]),
            "gini": _mean([v["gini"] for v in rows if v["gini"] is not None]),
        }
    for m in methods:
        stable = [r["seed_stability"][m] for r in images if m in r.get("seed_stability", {})]
        rhos = [s["mean_spearman"] for s in stable if s["mean_spearman"] is not None]
        if stable:
            out.setdefault("seed_stability", {})[m] = {"images": len(rhos), "mean_spearman": _mean(rhos),
                                                       "seeds": stable[0]["seeds"]}
    return out
