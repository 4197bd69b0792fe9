"""The attribution work of one image: a function of (image, bound model, settings, cache) returning its record.

:func:`explain_image` predicts the image's classes, picks the class to explain (``attribution.target``), explains it
with every method, decomposes the logit into the top units' contributions and draws their maps, runs the
randomised-model check, (with ``metrics``) the map measures and the faithfulness and agreement metrics, and the
registry metrics of ``[metrics]`` (:mod:`.metrics.scores`). Every
step is a cached artifact (:class:`~xai_report.cache.ArtifactCache`), so a second build computes nothing. It reads
nothing else of the stage: another process holding the same store can run it, with a model from
:func:`.bound.bind`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..cache import ArtifactCache
from ..numbers import rounded
from ..store import Artifact
from ..text import image_title
from ..labels import Label
from . import contributions, overlays, token_head, unit_maps
from .metrics import per_image, scores
from .metrics.randomisation import randomised
from .bound import BoundModel, ImageSettings
from .methods.explainer import Explanation, exported_entry
from .inputs import ImageInput, prepared_image, target_for
from .subject import explanation

TOP_K = 5

Step = Callable[[int, "str | None"], None]
"""Progress: ``step(count, note)`` after each part of an image (a prediction, a method, the metrics)."""


def _no_progress(count: int, note: str | None = None) -> None:
    pass


@dataclass
class ImageResult:
    """What one image gives: its record for ``results.json`` (None when skipped), the reason it was skipped, and
    the compute seconds of its parts (as measured when each artifact was made; ``timings.json``)."""

    record: dict | None
    skip: dict | None = None
    """``{"file": ..., "reason": ...}`` when the target rule finds no class to explain."""
    timings: dict[str, float] = field(default_factory=dict)


def steps_per_image(settings: ImageSettings) -> int:
    """The progress steps of one image: the prediction, each method, the metrics."""
    return 1 + len(settings.methods) + int(settings.metrics)


def predict(cache: ArtifactCache, bound: BoundModel, layer: str, item: ImageInput) -> Artifact:
    """Softmax probabilities of every class (``probs.npy``) and, when the head is global average pooling
    then one linear layer, the classifier's input (``features.npy``, see :func:`.contributions.predicted`)."""
    key = cache.key("predictions", code=(contributions.predicted, contributions.find_pooled_head,
                                         token_head.find_token_head, prepared_image), model=bound.subject.model_key,
                    layer=layer, image=item.sha256)
    x = item.prepared.tensor.to(bound.device)
    head = bound.pooled_head(layer, x)
    return cache.cached(key, lambda: contributions.predicted(bound.model.module, head, x))


def evaluate(cache: ArtifactCache, bound: BoundModel, settings: ImageSettings, item: ImageInput, class_index: int,
             artifacts: dict[str, Artifact]) -> Artifact:
    """Faithfulness and agreement numbers of this image's explanations (one artifact per image,
    :func:`.per_image.metrics`)."""
    steps, seed = settings.deletion_steps, settings.seed
    x = item.prepared.tensor.to(bound.device)
    low_res = bound.layer_hw(settings.layer, x)
    key = cache.key("metrics", code=(per_image.metrics, Explanation, prepared_image), model=bound.subject.model_key,
                    layer=settings.layer, image=item.sha256, target=class_index, steps=steps, low_res=list(low_res),
                    seed=seed, maps={m: a.meta["_key"] for m, a in artifacts.items()})
    found = {m: Explanation.from_artifact(a) for m, a in artifacts.items()}
    return cache.cached(key, lambda: per_image.metrics(bound.model.module, x, found, class_index, steps, low_res, seed))


def registry_scores(cache: ArtifactCache, bound: BoundModel, settings: ImageSettings, item: ImageInput,
                    class_index: int, artifacts: dict[str, Artifact]) -> dict:
    """The registry metrics (``[metrics]``) on this image's maps (``scores``) and on the twin's
    (``randomised_scores``), :func:`.scores.score_image`."""
    mask, marked, why = bound.measures.box_mask(item)
    boxes = scores.BoxMask(mask, marked, why)
    own = scores.ScoreSettings(bound.plan, bound.model.preprocess, bound.device, settings.seed,
                               bound.measures.settings.batch_size, bound.layout.is_token)
    found = {"scores": scores.record_of(scores.score_image(cache, own, bound.subject, bound.explainers, item,
                                                           class_index, artifacts, boxes))}
    if bound.twin is not None:
        twin = randomised.twin_maps(cache, bound.twin, settings.layer, settings.seed, item, class_index)
        found["randomised_scores"] = scores.record_of(scores.score_image(
            cache, own, bound.twin, bound.twin.explainers, item, class_index, twin, boxes))
    return found


def explain_image(item: ImageInput, bound: BoundModel, settings: ImageSettings, cache: ArtifactCache,
                  step: Step = _no_progress, label: Label | None = None) -> ImageResult:
    """Everything the attribution stage computes for ``item`` (see the module docstring); ``step`` is told of
    each finished part; ``label``: the image's true class (:func:`xai_report.labels.true_labels`), if it has one.
    Returns the image record (or why it was skipped) and its compute seconds."""
    prediction = predict(cache, bound, settings.layer, item)
    probs = prediction.array("probs.npy")
    step(1, f"{item.image_id[:24]} predicted")
    model = bound.model
    target = target_for(settings.target, item.path, probs, label)
    if isinstance(target, str):
        step(len(settings.methods) + int(settings.metrics), None)
        return ImageResult(None, {"file": item.path.name, "reason": target})
    class_index, rule, why = target
    record = _record(item, probs, model.class_names, model.wnids, label, class_index, rule, why)
    record["photo"] = cache.export(f"overlays/{item.image_id}_photo.jpg", overlays.photo(item.prepared.rgb))
    record["methods"] = {}
    timings: dict[str, float] = {}
    artifacts = {}
    for method, method_explainer in bound.explainers.items():
        artifact = explanation(cache, bound.subject, method, method_explainer, settings.layer, settings.seed, item,
                               class_index)
        artifacts[method] = artifact
        timings[method] = artifact.meta["seconds"]
        record["methods"][method] = exported_entry(artifact, f"{item.image_id}_{method}", class_index, cache.export)
        step(1, f"{item.image_id[:24]} {method}")
    head = bound.pooled_head(settings.layer, item.prepared.tensor.to(bound.device))
    record["neurons"] = contributions.for_image(head, prediction, class_index, settings.layer)
    if bound.head_features and "units" in record["neurons"]:  # a token head: the features it reads, no unit maps
        record["neurons"].update(layer=bound.head_layer, features=bound.head_features)
    unit_maps.add_maps(cache, model.module, bound.subject.model_key, settings.layer, bound.device, item,
                       record["neurons"])
    if bound.twin is not None:
        record["randomised"] = randomised.check(cache, bound.twin, settings.layer, settings.seed, item, class_index,
                                                artifacts)
    if bound.plan.metrics:
        record.update(registry_scores(cache, bound, settings, item, class_index, artifacts))
    if settings.metrics:
        measured, rerun_seconds = bound.measures.for_image(cache, bound.subject, settings.layer, item, class_index,
                                                           artifacts)
        record.update(measured)
        timings.update(rerun_seconds)
        found = evaluate(cache, bound, settings, item, class_index, artifacts)
        record["metrics"] = {"faithfulness": found.meta["faithfulness"], "agreement": found.meta["agreement"]}
        timings["metrics"] = found.meta["seconds"]
        step(1, f"{item.image_id[:24]} metrics")
    return ImageResult(record, None, timings)


def _record(item: ImageInput, probs: np.ndarray, names: list[str], wnids: list[str], label: Label | None,
            class_index: int, rule: str, why: str) -> dict:
    """The image record's identity, top-5 predictions, true class (``label``: :mod:`xai_report.labels`) and target."""
    top = np.argsort(-probs, kind="stable")[:TOP_K]
    true_index = None if label is None else label.index
    wnid = wnids[true_index] if true_index is not None and wnids else None
    return {
        "id": item.image_id,
        "title": image_title(item.path),
        "file": item.path.name,
        "sha256": item.sha256,
        "true_class": None if true_index is None else {"index": true_index, "name": names[true_index], "wnid": wnid},
        "predictions": [{"index": int(k), "name": names[k], "probability": rounded(probs[k])} for k in top],
        "correct": None if true_index is None else bool(int(top[0]) == true_index),
        "target": {"index": class_index, "name": names[class_index], "rule": rule, "why": why,
                   "probability": rounded(probs[class_index])},
    }
