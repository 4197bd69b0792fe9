"""A study's resolved metric plan (made by :func:`.plan.plan`), apart from the registry: the per-image scores read it,
and their cache keys must hold only the metric that runs, not every module of the registry."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from .base import Metric


@dataclass(frozen=True)
class Planned:
    """One metric the study runs and its validated parameters."""

    metric: Metric
    params: BaseModel


@dataclass(frozen=True)
class MetricPlan:
    """The study's metrics (in ``metrics.run`` order) and the methods that the re-running ones re-run."""

    metrics: tuple[Planned, ...]
    rerun_methods: tuple[str, ...]
