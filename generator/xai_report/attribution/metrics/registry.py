"""The registry of metrics: a new metric is one module under its family (``metrics/<family>/<name>.py``, holding
its parameter model, its compute function and its entry ``METRIC``, :class:`~.base.Metric`) and one line here.

The names are Quantus's classes in snake_case, so a reader of the Quantus documentation finds each one.
"""

from __future__ import annotations

from .base import Metric
from .axiomatic import completeness, input_invariance
from .complexity import complexity, effective_complexity, sparseness
from .faithfulness import faithfulness_correlation, infidelity, pixel_flipping, road
from .localisation import energy_pointing_game, pointing_game, relevance_mass_accuracy, relevance_rank_accuracy
from .randomisation import efficient_mprt, mprt, random_logit, smooth_mprt
from .robustness import local_lipschitz_estimate, max_sensitivity

METRICS: dict[str, Metric] = {m.name: m for m in [
    road.METRIC,
    faithfulness_correlation.METRIC,
    infidelity.METRIC,
    pixel_flipping.METRIC,
    max_sensitivity.METRIC,
    local_lipschitz_estimate.METRIC,
    pointing_game.METRIC,
    relevance_mass_accuracy.METRIC,
    relevance_rank_accuracy.METRIC,
    energy_pointing_game.METRIC,
    sparseness.METRIC,
    complexity.METRIC,
    effective_complexity.METRIC,
    mprt.METRIC,
    smooth_mprt.METRIC,
    efficient_mprt.METRIC,
    random_logit.METRIC,
    completeness.METRIC,
    input_invariance.METRIC,
]}
"""Every metric, by family (Quantus's order: faithfulness, robustness, localisation, complexity, randomisation,
axiomatic)."""
