"""The registry of metrics: a new metric is one module under its family (``metrics/<family>/<name>.py``, holding
its parameter model, its compute function and its entry ``METRIC``, :class:`~.base.Metric`) and one line here.

The names are Quantus's classes in snake_case, so a reader of the Quantus documentation finds each one.
"""

from __future__ import annotations

from .base import Metric
from .complexity import sparseness
from .randomisation import efficient_mprt, mprt, random_logit, smooth_mprt
from .robustness import local_lipschitz_estimate, max_sensitivity

METRICS: dict[str, Metric] = {m.name: m for m in [
    sparseness.METRIC,
    max_sensitivity.METRIC,
    local_lipschitz_estimate.METRIC,
    mprt.METRIC,
    smooth_mprt.METRIC,
    efficient_mprt.METRIC,
    random_logit.METRIC,
]}
