"""The attribution stage: per image, the top-5 predictions, every configured method's explanation and
overlay, and (with ``metrics``) their faithfulness and agreement; then the comparison across images.

Every artifact goes through the store (:class:`~xai_report.stage.Stage`), keyed by its inputs and the code
and libraries that make it, so a second build with nothing changed computes nothing, a changed image
recomputes only its own artifacts and an edited method module only that method's (and the metrics that
read its maps). The stage returns the ``attribution`` section of ``results.json`` (numbers only) and writes
the raw maps and overlays under the study's output folder. Methods are :class:`~.explainer.Explainer`\\ s
from the registry (:mod:`.methods`); nothing here knows which kind a method is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from .. import data
from ..config import AttributionConfig, Study
from ..errors import ConfigError
from ..models import LoadedModel, resolve_layer
from ..progress import Progress
from ..stage import Stage, output_shapes
from ..store import Artifact, ArtifactStore
from ..text import image_title
from . import across_images, agreement, contributions, explainer, faithfulness, inference, maps, overlays, per_image, perturbation
from . import dataset_level, map_measures, randomised, unit_maps
from .explainer import Explanation, Settings, exported_entry
from .inputs import ImageInput, load_inputs, target_for, true_wnid
from .methods import METHODS

TOP_K = 5
METRICS_CODE = (per_image, faithfulness, agreement, maps, perturbation, inference, explainer, data)
"""Our modules behind the per-image metrics."""
DEFAULT_LOW_RES = (7, 7)
"""The random baseline's resolution when the target layer's output is not a 4-D feature map."""


class AttributionStage(Stage):
    """Computes (or reuses) predictions, explanations, overlays and metrics for every image of the study."""

    name = "attribution"

    @classmethod
    def enabled(cls, study: Study) -> bool:
        return study.attribution.enabled

    def __init__(self, study: Study, store: ArtifactStore, model: LoadedModel | None = None,
                 device: torch.device | None = None):
        """``model``: an already loaded model to use instead of ``attribution.model`` (tests)."""
        super().__init__(study, store, device)
        self.cfg = study.attribution
        if model is None:
            self.model = self.load_model(self.cfg.model)
        else:
            self.model = model
            self.model.module.to(self.device).eval()
        try:
            layer = resolve_layer(self.model.module, self.cfg.layer)
        except ConfigError as exc:
            raise ConfigError(f"attribution.layer: {exc}") from None
        if isinstance(self.cfg.target, int) and self.cfg.target >= len(self.model.class_names):
            raise ConfigError(
                f"attribution.target: class {self.cfg.target} is out of range; "
                f"{self.cfg.model} has classes 0-{len(self.model.class_names) - 1}"
            )
        self.model_key = self.model.cache_id()
        settings = Settings(self.cfg, layer, self.model.preprocess, self.device, study.seed)
        self.explainers = {m: METHODS[m].make(settings) for m in self.cfg.methods}
        twin_methods = list(self.cfg.methods if self.cfg.randomised_methods is None else self.cfg.randomised_methods)
        self.twin = randomised.make_twin(self.model, settings, twin_methods, self.cfg.layer, study.seed) if twin_methods else None
        self._layer_hw: tuple[int, int] | None = None
        self._head: nn.Linear | str | None = None
        self.measures = map_measures.MapMeasures(self)  # boxes, spread, Gini, LIME seeds: artifacts of their own

    # -- cached computations -------------------------------------------------------------------

    def predict(self, item: ImageInput) -> Artifact:
        """Softmax probabilities of every class (``probs.npy``) and, when the head is global average pooling
        then one linear layer, the classifier's input (``features.npy``, see :mod:`.contributions`)."""
        key = self.key("predictions", code=(sys.modules[__name__], data, contributions), model=self.model_key,
                       layer=self.cfg.layer, image=item.sha256)

        def compute():
            x = item.prepared.tensor.to(self.device)
            head = self.pooled_head(x)
            logits, features = contributions.forward_with_features(self.model.module, head, x)
            probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy().astype(np.float32)
            files = {"probs.npy": probs} | ({} if features is None else {"features.npy": features})
            return {"kind": "predictions", "head": head if isinstance(head, str) else None}, files

        return self.cached(key, compute)

    def pooled_head(self, x: torch.Tensor):
        """The classifier fed by ``attribution.layer``'s global average, or why there is none (found once)."""
        if self._head is None:
            self._head = contributions.find_pooled_head(self.model.module, self.cfg.layer, x)
        return self._head

    def explain(self, item: ImageInput, method: str, class_index: int,
                using: explainer.Explainer | None = None, subject: randomised.Subject | None = None) -> Artifact:
        """One method's explanation of ``class_index`` and its overlay (:meth:`Explanation.stored`); ``using``:
        another explainer of the method than the study's (e.g. LIME with another seed, :mod:`.map_measures`);
        ``subject``: another model than the study's (its randomised twin, :mod:`.randomised`)."""
        entry, method_explainer = METHODS[method], using or self.explainers[method]
        subject = subject or randomised.Subject(self.model.module, self.model_key)
        key = self.key("attribution", code=entry.code, libraries=entry.libraries, model=subject.model_key,
                       layer=self.cfg.layer, image=item.sha256, method=method, target=class_index,
                       params=method_explainer.params())

        def compute():
            torch.manual_seed(self.study.seed)
            found = method_explainer.explain(subject.module, item.prepared, class_index)
            meta, files = found.stored(method_explainer.overlay(item.prepared.rgb, found))
            return {"method": method, **meta}, files

        return self.cached(key, compute)

    def evaluate(self, item: ImageInput, class_index: int, artifacts: dict[str, Artifact]) -> Artifact:
        """Faithfulness and agreement numbers of this image's explanations (one artifact per image)."""
        steps = self.cfg.deletion_steps
        key = self.key("metrics", code=METRICS_CODE, libraries=("scipy",), model=self.model_key,
                       layer=self.cfg.layer, image=item.sha256, target=class_index, steps=steps,
                       seed=self.study.seed, maps={m: a.meta["_key"] for m, a in artifacts.items()})

        def compute():
            found = {m: Explanation.from_artifact(a) for m, a in artifacts.items()}
            x = item.prepared.tensor.to(self.device)
            faith = per_image.faithfulness(self.model.module, x, {m: e.map for m, e in found.items()}, class_index,
                                           steps, self.layer_hw(x), self.study.seed)
            return {"kind": "metrics", "faithfulness": faith, "agreement": per_image.agreement(found)}, {}

        return self.cached(key, compute)

    def layer_hw(self, x: torch.Tensor) -> tuple[int, int]:
        """Spatial size of the target layer's output: the resolution of the random baseline's maps."""
        if self._layer_hw is None:
            shape = output_shapes(self.model.module, [self.cfg.layer], x).get(self.cfg.layer)
            self._layer_hw = tuple(shape[-2:]) if shape is not None and len(shape) == 4 else DEFAULT_LOW_RES
        return self._layer_hw

    # -- the stage -----------------------------------------------------------------------------

    def run(self) -> dict:
        start = time.perf_counter()
        inputs, skipped = load_inputs(Path(self.cfg.images), self.model.preprocess)
        records = []
        steps_per_image = 1 + len(self.cfg.methods) + int(self.cfg.metrics)
        progress = Progress("attribution", len(inputs), steps_per_image)
        for item in inputs:
            records.append(self._run_image(item, skipped, progress))
            progress.done(item.image_id)
        progress.close()
        self.stats.seconds = time.perf_counter() - start
        images = [r for r in records if r is not None]
        section = {
            "model": {
                "key": self.cfg.model,
                "description": self.model.description,
                "weights_id": self.model.weights_id,
                "layer": self.cfg.layer,
                "preprocess": self.model.preprocess.to_dict(),
                "num_classes": len(self.model.class_names),
            },
            "methods": [{"name": m, "title": METHODS[m].title, "citation": METHODS[m].citation} for m in self.cfg.methods],
            "target_rule": self.cfg.target,
            "parameters": settings_shown(self.cfg, self.explainers.values(), self.study.seed),
            "images": images,
            "skipped": skipped,
            "accuracy": across_images.accuracy(images),
        }
        if self.cfg.metrics and images:
            # Methods whose explanations have regions: the others' region-level agreement is measured with them.
            regional = [m for m in self.cfg.methods if any("segments" in r["methods"][m] for r in images)]
            section["comparison"] = across_images.comparison(images, self.cfg.methods, regional)
            section["map_measures"] = map_measures.summary(images, self.cfg.methods)
            # Dataset-level findings (means with bootstrap intervals, per class, short lists): dataset_level.py.
            rows = [dataset_level.scores_from_record(r) for r in images]
            section["dataset"] = dataset_level.summary(rows, self.cfg.methods, self.cfg.bootstrap_samples, self.study.seed)
        if self.twin is not None:
            section["randomised"] = randomised.summary(images)
        return section

    def _run_image(self, item: ImageInput, skipped: list[dict], progress: Progress) -> dict | None:
        prediction = self.predict(item)
        probs = prediction.array("probs.npy")
        progress.step(1, f"{item.image_id[:24]} predicted")
        target = target_for(self.cfg.target, item.path, probs, self.model.wnids)
        if isinstance(target, str):
            skipped.append({"file": item.path.name, "reason": target})
            progress.step(len(self.cfg.methods) + int(self.cfg.metrics))
            return None
        class_index, rule, why = target
        top = np.argsort(-probs, kind="stable")[:TOP_K]
        wnid = true_wnid(item.path)
        true_index = self.model.wnids.index(wnid) if wnid and wnid in self.model.wnids else None
        names = self.model.class_names
        record = {
            "id": item.image_id,
            "title": image_title(item.path),
            "file": item.path.name,
            "sha256": item.sha256,
            "true_class": None if true_index is None else {"index": true_index, "name": names[true_index], "wnid": wnid},
            "predictions": [{"index": int(k), "name": names[k], "probability": round(float(probs[k]), 6)} for k in top],
            "correct": None if true_index is None else bool(int(top[0]) == true_index),
            "target": {"index": class_index, "name": names[class_index], "rule": rule, "why": why,
                       "probability": round(float(probs[class_index]), 6)},
            "photo": self.export(f"overlays/{item.image_id}_photo.jpg", overlays.photo(item.prepared.rgb)),
            "methods": {},
        }
        self.stats.timings[item.image_id] = {}
        artifacts = {}
        for method in self.cfg.methods:
            artifact = self.explain(item, method, class_index)
            artifacts[method] = artifact
            self.stats.timings[item.image_id][method] = artifact.meta["seconds"]
            record["methods"][method] = exported_entry(artifact, f"{item.image_id}_{method}", class_index, self.export)
            progress.step(1, f"{item.image_id[:24]} {method}")
        head = self.pooled_head(item.prepared.tensor.to(self.device))
        record["neurons"] = contributions.for_image(head, prediction, class_index, self.cfg.layer)
        unit_maps.add_maps(self, item, record["neurons"])
        if self.twin is not None:
            record["randomised"] = randomised.check(self, item, class_index, artifacts)
        if self.cfg.metrics:
            record.update(self.measures.for_image(item, class_index, artifacts))
            found = self.evaluate(item, class_index, artifacts)
            record["metrics"] = {"faithfulness": found.meta["faithfulness"], "agreement": found.meta["agreement"]}
            self.stats.timings[item.image_id]["metrics"] = found.meta["seconds"]
            progress.step(1, f"{item.image_id[:24]} metrics")
        return record


def settings_shown(cfg: AttributionConfig, explainers: Iterable[explainer.Explainer], seed: int) -> dict:
    """Settings shown on the methodology page (strings, so the page can print them as they are)."""
    params = {"CAM batch size (Ablation-CAM, Score-CAM)": str(cfg.batch_size)}
    for method in explainers:
        params.update(method.settings())
    params["Seed"] = str(seed)
    if cfg.metrics:
        params["Deletion / insertion"] = (f"{cfg.deletion_steps} steps, removed pixels take a Gaussian-blurred copy's "
                                          "values (sigma = shorter side / 8); random baseline: 5 smooth random maps at the "
                                          "CAM layer's resolution")
    return params
