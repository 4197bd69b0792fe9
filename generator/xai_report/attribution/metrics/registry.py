"""The registry of metrics: a new metric is one module under its family (``metrics/<family>/<name>.py``, holding
its parameter model, its compute function and its entry ``METRIC``, :class:`~.base.Metric`) and one line here.

The names are Quantus's classes in snake_case, so a reader of the Quantus documentation finds each one.
"""

from __future__ import annotations

from .base import Metric
from .complexity import sparseness

METRICS: dict[str, Metric] = {m.name: m for m in [
    sparseness.METRIC,
]}
