"""The registry of metrics: a new metric is one module under its family (``metrics/<family>/<name>.py``, holding
its parameter model, its compute function and its entry ``METRIC``, :class:`~.base.Metric`) and one line here.

The names are Quantus's classes in snake_case, so a reader of the Quantus documentation finds each one.
"""

from __future__ import annotations

from .base import Metric
from .axiomatic import completeness, input_invariance
from .complexity import sparseness
from .faithfulness import faithfulness_correlation, infidelity, pixel_flipping, road

METRICS: dict[str, Metric] = {m.name: m for m in [
    sparseness.METRIC,
    road.METRIC,
    faithfulness_correlation.METRIC,
    infidelity.METRIC,
    pixel_flipping.METRIC,
    completeness.METRIC,
    input_invariance.METRIC,
]}
