"""The attribution stage: per image, the top-5 predictions, every configured method's explanation and
overlay, and (with ``metrics``) their faithfulness and agreement; then the comparison across images.

The work of one image is :func:`.image.explain_image`, a function of the image, the bound model (:func:`.bound.bind`),
the settings and an artifact cache; the stage loops over the images and assembles the section. Every artifact
goes through the store (:class:`~xai_report.cache.ArtifactCache`), keyed by its inputs and the code
and libraries that make it, so a second build with nothing changed computes nothing, a changed image
recomputes only its own artifacts and an edited method module only that method's (and the metrics that
read its maps). The stage returns the ``attribution`` section of ``results.json`` (numbers only) and writes
the raw maps and overlays under the study's output folder. Methods are :class:`~.methods.explainer.Explainer`\\ s
from the registry (:mod:`.methods.registry`); nothing here knows which kind a method is.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Mapping

import torch

from ..config import AttributionConfig, Study
from ..labels import Label, true_labels
from ..models.classifiers import LoadedModel
from ..models.tokens import TokenLayout
from ..progress import Progress
from ..stage import Stage
from ..store import ArtifactStore
from . import across_images, dataset_level, remote
from .metrics import map_measures, scores, trust
from .metrics.plan import plan as metric_plan
from .metrics.randomisation import randomised
from .methods import explainer, registry as methods
from .bound import ImageSettings, bind
from .image import ImageResult, explain_image, steps_per_image
from .inputs import ImageInput, load_inputs
from .methods.registry import METHODS


class AttributionStage(Stage):
    """Computes (or reuses) predictions, explanations, overlays and metrics for every image of the study."""

    name = "attribution"

    @classmethod
    def enabled(cls, study: Study) -> bool:
        return study.attribution.enabled

    @classmethod
    def check(cls, study: Study) -> None:
        if study.attribution.enabled:
            methods.check(study.attribution)
            metric_plan(study)

    def __init__(self, study: Study, store: ArtifactStore, model: LoadedModel | None = None,
                 device: torch.device | None = None):
        """``model``: an already loaded model to use instead of ``attribution.model`` (tests)."""
        super().__init__(study, store, device)
        self.cfg = study.attribution
        self.bound = bind(study, self.device, model)  # first: it puts a model family's default layer in the config
        self.settings = ImageSettings.of(study)
        self._identity: remote.Identity | None = None

    def run(self) -> dict:
        start = time.perf_counter()
        model = self.bound.model
        inputs, skipped = load_inputs(Path(self.cfg.images), model.preprocess, self.cfg.first_images)
        labels = true_labels(Path(self.cfg.images), [i.path for i in inputs], model.class_names, model.wnids,
                             self.cfg.labels)  # an unknown label stops here, before any compute
        images = []
        progress = Progress("attribution", len(inputs), steps_per_image(self.settings))
        if self.engine is None:
            results = self._in_process(inputs, progress, labels)
        else:
            results = remote.explain_spread(inputs, self.bound, self.settings, self.cache, self.engine, self._job,
                                            progress, labels)
        for item, found in zip(inputs, results):
            if found.record is None:
                skipped.append(found.skip)
            else:
                images.append(found.record)
                self.stats.timings[item.image_id] = found.timings
        progress.close()
        self.stats.seconds = time.perf_counter() - start
        section = {
            "model": {
                "key": self.cfg.model,
                "description": model.description,
                "weights_id": model.weights_id,
                "layer": self.cfg.layer,
                "preprocess": model.preprocess.to_dict(),
                "num_classes": len(model.class_names),
            },
            "methods": [method_info(m, self.bound.explainers[m]) for m in self.cfg.methods],
            "target_rule": self.cfg.target,
            "parameters": settings_shown(self.cfg, self.study.seed),
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
        if self.bound.twin is not None:
            section["randomised"] = randomised.summary(images)
        if self.bound.plan.metrics:
            section["metric_catalogue"] = scores.catalogue(self.bound.plan)
            if images:
                section["trust"] = trust.summary(images, section["metric_catalogue"], self.cfg.methods,
                                                 self.cfg.bootstrap_samples, self.study.seed)
        add_model_notes(section, model, self.bound.layout, self.bound.explainers)
        return section

    def _in_process(self, inputs: list[ImageInput], progress: Progress, labels: Mapping[Path, Label]
                    ) -> Iterator[ImageResult]:
        """Each image's result, computed here one after the other (``labels``: the true classes known)."""
        for item in inputs:
            yield explain_image(item, self.bound, self.settings, self.cache, progress.step, labels.get(item.path))
            progress.done(item.image_id)

    def _job(self, item: ImageInput, label: Label | None) -> remote.WorkerJob:
        """What a worker needs to explain ``item`` of true class ``label`` (:mod:`.remote`)."""
        if self._identity is None:
            self._identity = remote.identity(self.study, self.bound)
        return remote.WorkerJob(self.study, self._identity, self.settings, item, label, str(self.store.root),
                                self.engine.threads_per_worker)


def method_info(name: str, found: explainer.Explainer) -> dict:
    """A method's entry in the section's method list: its registry entry's title, citation and family, and its
    explainer's settings (:meth:`~.methods.explainer.Explainer.settings`), the ``Baseline`` line apart."""
    entry = METHODS[name]
    settings = found.settings()
    info = {"name": name, "title": entry.title, "citation": entry.citation, "family": entry.family,
            "settings": {k: v for k, v in settings.items() if k != explainer.BASELINE}}
    if explainer.BASELINE in settings:
        info["baseline"] = settings[explainer.BASELINE]
    return info


def settings_shown(cfg: AttributionConfig, seed: int) -> dict:
    """Settings of the whole study shown on the methodology page (strings, so the page can print them as they are);
    each method's own are in its entry (:func:`method_info`)."""
    params = {"CAM batch size (Ablation-CAM, Score-CAM)": str(cfg.batch_size), "Seed": str(seed)}
    if cfg.metrics:
        params["Deletion / insertion"] = (f"{cfg.deletion_steps} steps, removed pixels take a Gaussian-blurred copy's "
                                          "values (sigma = shorter side / 8); random baseline: 5 smooth random maps at the "
                                          "CAM layer's resolution")
    return params


def add_model_notes(section: dict, model: LoadedModel, layout: TokenLayout, explainers: dict) -> None:
    """Where the model's preprocessing came from; for a token layer, its layout and what ran on it per method
    (``token_layer``)."""
    section["model"]["preprocess_source"] = model.preprocess_source
    if layout.is_token:
        section["token_layer"] = {"layout": layout.describe(), "implementations": {
            m: e.implementation() if hasattr(e, "implementation") else "needs no layer (model-agnostic)"
            for m, e in explainers.items()}}
