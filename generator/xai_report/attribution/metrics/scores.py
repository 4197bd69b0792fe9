"""Every planned metric (:mod:`.plan`) on every method's map of one image, cached per image, method map and metric.

:func:`score_image` builds the :class:`~.base.MetricInput` of one image (the model's normalised input on its
device, the explained class, the maps, the preprocessing, the boxes' mask, and the study's explainers as
:class:`~.rerun_adapter.Rerun`\\ s for the methods a metric re-runs) and stores one artifact per (metric, method), keyed by the
metric's compute function (its module's import closure, :mod:`xai_report.fingerprint`), its validated parameters,
the seed, the map's own artifact key, the model, the image, the class, the batch size and, for a metric that
needs them, the boxes (and the re-run method's code). The methods still missing for a metric are computed in one
call, so the metric can batch their passes; a metric that re-runs the method is called once per method, since each
score then also depends on that method's code. A method the metric cannot score gets a :class:`~.base.Score` with
the reason and no artifact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import numpy as np
import torch

from ...cache import ArtifactCache
from ...models.preprocess import Preprocess
from ...numbers import rounded
from ...store import Artifact
from ..methods.explainer import Explainer, Explanation
from ..inputs import ImageInput
from ..subject import Subject
from .base import Metric, MetricInput, Score
from .planned import MetricPlan, Planned
from .rerun_adapter import Rerun
from .scoring import scored, stored


@dataclass(frozen=True)
class BoxMask:
    """The image's object boxes in the model's input frame (None and why when there are none)."""

    mask: Optional[np.ndarray]
    boxes: Optional[list]
    """The boxes as the cache key holds them (:meth:`.localisation.boxes.ImageBoxes.to_json`)."""
    reason: Optional[str] = None


@dataclass(frozen=True)
class ScoreSettings:
    """What the scores of one image read of the study besides the maps."""

    plan: MetricPlan
    preprocess: Preprocess
    device: torch.device
    seed: int
    batch_size: int
    is_token: bool


def _from_artifact(artifact: Artifact) -> Score:
    meta = artifact.meta
    return Score(meta["value"], meta["reason"], None if meta["curve"] is None else tuple(meta["curve"]))


def _unscorable(planned: Planned, method: str, settings: ScoreSettings, boxes: BoxMask,
                explainers: Mapping[str, Explainer]) -> Optional[str]:
    """Why ``planned`` cannot score ``method`` here, or None."""
    needs = planned.metric.needs
    if "tokens" in needs and not settings.is_token:
        return "needs a token model (a ViT or Swin layer)"
    if "boxes" in needs and boxes.mask is None:
        return boxes.reason or "the image has no object boxes"
    if "explain" in needs and (method not in settings.plan.rerun_methods or method not in explainers):
        return f"re-runs the method, and metrics.rerun_methods leaves {method} out"
    return None


def score_image(cache: ArtifactCache, settings: ScoreSettings, subject: Subject, explainers: Mapping[str, Explainer],
                item: ImageInput, class_index: int, artifacts: Mapping[str, Artifact],
                boxes: BoxMask) -> dict[str, dict[str, Score]]:
    """Metric -> method -> its :class:`~.base.Score` for the maps ``artifacts`` (method -> explanation artifact) of
    ``item`` on ``subject`` (the study's model or its randomised twin), cached (see the module docstring)."""
    x = item.prepared.tensor.to(settings.device)
    maps = {m: Explanation.from_artifact(a).map for m, a in artifacts.items()}
    out: dict[str, dict[str, Score]] = {}
    for planned in settings.plan.metrics:
        metric = planned.metric
        found: dict[str, Score] = {}
        keys: dict[str, str] = {}
        for method, artifact in artifacts.items():
            reason = _unscorable(planned, method, settings, boxes, explainers)
            if reason is not None:
                found[method] = Score.absent(reason)
                continue
            keys[method] = _key(cache, planned, settings, subject, item, class_index, artifact,
                                boxes, explainers[method] if "explain" in metric.needs else None)
        missing = [m for m in keys if not cache.stored(keys[m])]
        groups = [[m] for m in missing] if "explain" in metric.needs else ([missing] if missing else [])
        for group in groups:
            reruns = ({m: Rerun(explainers[m], settings.preprocess, settings.seed, subject.module) for m in group}
                      if "explain" in metric.needs else {})
            inputs = MetricInput(subject.module, x, class_index, {m: maps[m] for m in group}, settings.preprocess,
                                 boxes.mask if "boxes" in metric.needs else None, reruns, settings.batch_size)
            batch: dict[str, Score] = {}
            first = group[0]
            cache.cached(keys[first], lambda: scored(metric.compute, inputs, planned.params, settings.seed, batch,
                                                     first))
            for method in group[1:]:
                cache.cached(keys[method], lambda method=method: stored(batch[method]))
        for method in keys:
            found[method] = _from_artifact(cache.lookup(keys[method]))
        out[metric.name] = {m: found[m] for m in artifacts}
    return out


def _key(cache: ArtifactCache, planned: Planned, settings: ScoreSettings, subject: Subject, item: ImageInput,
         class_index: int, artifact: Artifact, boxes: BoxMask, rerun: Optional[Explainer]) -> str:
    """The store key of one method's score on one metric (see the module docstring)."""
    metric: Metric = planned.metric
    runs = tuple(rerun.runs) if rerun is not None else ()
    return cache.key("metric_score", code=(scored, metric.compute, *((Rerun, *runs) if rerun is not None else ())),
                     metric=metric.name, params=planned.params.model_dump(mode="json"), seed=settings.seed,
                     map=artifact.meta["_key"], model=subject.model_key, image=item.sha256, target=class_index,
                     batch_size=settings.batch_size, boxes=boxes.boxes if "boxes" in metric.needs else None,
                     rerun=None if rerun is None else {"params": rerun.params(),
                                                       "runs": [f"{r.__module__}.{r.__qualname__}" for r in runs]})


def record_of(scores: Mapping[str, Mapping[str, Score]]) -> dict:
    """``scores`` as the image record holds them: metric -> method -> ``{value, reason?, curve?}`` (rounded; a
    non-finite point of a curve becomes null)."""
    return {metric: {method: _entry(score) for method, score in per.items()} for metric, per in scores.items()}


def _entry(score: Score) -> dict:
    entry: dict = {"value": rounded(score.value)}
    if score.reason is not None:
        entry["reason"] = score.reason
    if score.curve is not None:
        entry["curve"] = [rounded(v) if math.isfinite(v) else None for v in score.curve]
    return entry


def catalogue(plan: MetricPlan) -> list[dict]:
    """The planned metrics as ``results.json``'s catalogue: what each is, its direction, parameters, needs, cost."""
    out = []
    for planned in plan.metrics:
        m = planned.metric
        cost = m.cost(planned.params)
        out.append({"name": m.name, "title": m.title, "family": m.family, "citation": m.citation,
                    "higher_is_better": m.higher_is_better, "params": planned.params.model_dump(mode="json"),
                    "needs": sorted(m.needs), "forward_passes": cost.forward, "backward_passes": cost.backward})
    return out
