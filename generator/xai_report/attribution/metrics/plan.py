"""Which metrics of the registry a study runs, with their validated parameters, and which methods they re-run.

:func:`plan` reads the study's ``[metrics]`` table (:class:`~xai_report.config.schema.MetricsConfig`) and checks
it completely before any compute (the attribution stage's ``check``): known metric names, each
``[metrics.<name>]`` table valid for its metric, ``rerun_methods`` among the study's methods, a metric that
needs boxes only with ``attribution.boxes``. Every error is one :class:`ConfigError` line naming the key.
"""

from __future__ import annotations

from ...config import Study
from ...config.schema import MetricsConfig
from ...errors import ConfigError
from ..methods.registry import METHODS
from .base import Metric
from .planned import MetricPlan, Planned
from .registry import METRICS

DEFAULT_PASSES = 32
DEFAULT_RULE = (f"every registered metric that needs nothing but the maps (or the boxes, when the study gives them) "
                f"and costs at most {DEFAULT_PASSES} model passes and no solve per map at its default parameters")
"""What ``metrics.run`` unset runs."""
RERUN_PASSES = 2
"""``metrics.rerun_methods`` unset: the study's methods with at most this many passes (one forward, one backward)."""


def _cheap(metric: Metric, has_boxes: bool) -> bool:
    cost = metric.cost(metric.parameters({}))
    allowed = {"boxes"} if has_boxes else set()
    return metric.needs <= allowed and cost.forward + cost.backward <= DEFAULT_PASSES and not cost.solves


def plan(study: Study) -> MetricPlan:
    """The study's metric plan (see the module docstring); raises a one-line :class:`ConfigError`."""
    cfg: MetricsConfig = study.metrics
    has_boxes = bool(study.attribution.boxes)
    for key, value in cfg.extra_tables().items():
        if key not in METRICS or not isinstance(value, dict):
            allowed = ", ".join(list(MetricsConfig.model_fields) + [f"[metrics.<metric>] ({', '.join(METRICS)})"])
            raise ConfigError(f"unknown key metrics.{key}; allowed: {allowed}")
    if cfg.run is None:
        names = [n for n, m in METRICS.items() if _cheap(m, has_boxes)]
    else:
        names = list(cfg.run)
        for name in names:
            if name not in METRICS:
                raise ConfigError(f"metrics.run: unknown metric {name!r}; allowed: {', '.join(METRICS)}")
            if "boxes" in METRICS[name].needs and not has_boxes:
                raise ConfigError(f"metrics.run: {name} needs object boxes; set attribution.boxes or leave it out")
        if len(set(names)) != len(names):
            raise ConfigError("metrics.run: a metric is named twice; name each once")
    methods = study.attribution.methods
    if cfg.rerun_methods is None:
        rerun = [m for m in methods if m in METHODS and METHODS[m].passes <= RERUN_PASSES]
    else:
        rerun = list(cfg.rerun_methods)
        for m in rerun:
            if m not in methods:
                raise ConfigError(f"metrics.rerun_methods: {m!r} is not in attribution.methods ({', '.join(methods)})")
    planned = tuple(Planned(METRICS[n], METRICS[n].parameters(cfg.metric_table(n))) for n in names)
    for key in cfg.extra_tables():  # a table of a metric not run is still checked, so a typo never waits
        METRICS[key].parameters(cfg.metric_table(key))
    return MetricPlan(planned, tuple(rerun))
