"""The attribution stage's map measures, each image in cached artifacts of their own: localisation against
object boxes (:mod:`.energy`), spread and concentration (:mod:`.concentration`), and the stability of the
``attribution.stability_methods`` (LIME in the shipped studies) across seeds (:mod:`.stability`).

They live apart from the ``metrics`` artifact (faithfulness, the slow part), so that editing one of these
modules recomputes these numbers only. The extra runs for the stability are ordinary explanations with
another seed, stored under the same kind of key as the study's own (a study whose seed is one of them reuses
it). The stage calls :meth:`MapMeasures.for_image` per image and :func:`summary` once.

``results.json`` gets, per image, ``map_measures`` (``boxes``: the boxes' count, objects and area share in
the input frame, or why there are none; ``methods``: per method ``energy_in_boxes``, ``spread_half_max`` and
``gini``) and, with ``stability_methods``, ``seed_stability`` (per method: the seeds and their agreement);
the section gets ``map_measures``: the means over the images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import load_rgb
from ..models import resolve_layer
from ..store import Artifact
from . import agreement, boxes, concentration, energy, maps, stability
from .explainer import Explanation, Settings
from .inputs import ImageInput
from .methods import METHODS

if TYPE_CHECKING:  # the stage imports this module
    from .stage import AttributionStage

ROUND = 6
MEASURES_CODE = (boxes, energy, concentration, maps)
STABILITY_CODE = (stability, agreement, maps)


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), ROUND)


class MapMeasures:
    """Per-image measures of the stage's maps (see the module docstring)."""

    def __init__(self, stage: AttributionStage) -> None:
        self.stage = stage
        cfg = stage.cfg
        self.boxes_file = Path(cfg.boxes) if cfg.boxes else None
        self.boxes = boxes.read_boxes(self.boxes_file) if self.boxes_file else {}
        self.extra_seeds = [stage.study.seed + i for i in range(1, cfg.stability_seeds + 1)]
        self._seed_explainers: dict[tuple[str, int], object] = {}

    def for_image(self, item: ImageInput, class_index: int, artifacts: dict[str, Artifact]) -> dict:
        """The image record's ``map_measures`` and (with ``stability_methods``) ``seed_stability``."""
        found = {"map_measures": self._measures(item, artifacts).meta["measures"]}
        methods = self.stage.cfg.stability_methods
        if methods:
            found["seed_stability"] = {m: self._stability(item, m, class_index, artifacts[m]) for m in methods}
        return found

    # -- localisation, spread, concentration ---------------------------------------------------

    def _measures(self, item: ImageInput, artifacts: dict[str, Artifact]) -> Artifact:
        marked = self.boxes.get(item.path.name)
        stage = self.stage
        key = stage.key("map_measures", code=MEASURES_CODE, model=stage.model_key, image=item.sha256,
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

        return stage.cached(key, compute)

    def _mask(self, item: ImageInput, marked: boxes.ImageBoxes | None) -> tuple[np.ndarray | None, dict]:
        """The boxes' input-frame mask and their description, or None and the reason there is none."""
        if self.boxes_file is None:
            return None, {"absent": "the study names no boxes file (attribution.boxes)"}
        if marked is None:
            return None, {"absent": f"{item.path.name} has no row in {self.boxes_file.name}"}
        if not marked.boxes:
            return None, {"count": 0, "absent": f"{self.boxes_file.name} marks no object in {item.path.name} (its row has no box)"}
        size = load_rgb(item.path).size
        mask = boxes.input_mask(marked, size, self.stage.model.preprocess)
        if not mask.any():
            return None, {"absent": f"the boxes of {item.path.name} fall outside the model's centre crop"}
        return mask, {"count": len(marked.boxes), "objects": sorted({b.name for b in marked.boxes}),
                      "area_share": _r(energy.area_share(mask))}

    # -- a method across seeds -----------------------------------------------------------------

    def _stability(self, item: ImageInput, method: str, class_index: int, own: Artifact) -> dict:
        stage = self.stage
        runs = {stage.study.seed: own}
        for seed in self.extra_seeds:
            runs[seed] = stage.explain(item, method, class_index, using=self._explainer(method, seed))
        seconds = sum(runs[s].meta["seconds"] for s in self.extra_seeds)
        stage.stats.timings.setdefault(item.image_id, {})[f"{method}_extra_seeds"] = round(seconds, 3)
        key = stage.key("seed_stability", code=STABILITY_CODE, maps={str(s): a.meta["_key"] for s, a in runs.items()})

        def compute():
            found = {s: Explanation.from_artifact(a).map for s, a in runs.items()}
            return {"kind": "seed_stability", "stability": stability.seed_agreement(found)}, {}

        return stage.cached(key, compute).meta["stability"]

    def _explainer(self, method: str, seed: int):
        """The method's explainer with another seed (made once per build)."""
        if (method, seed) not in self._seed_explainers:
            stage = self.stage
            settings = Settings(stage.cfg, resolve_layer(stage.model.module, stage.cfg.layer), stage.model.preprocess,
                                stage.device, seed, stage.layout)
            self._seed_explainers[(method, seed)] = METHODS[method].make(settings)
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
