"""Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017), with
captum's ``IntegratedGradients``.

For the input ``x``, a baseline ``x'`` and the target logit ``f`` (the model's output for the explained class,
before the softmax), the attribution of input ``i`` is the path integral of the gradient along the straight line:

    IG_i(x) = (x_i - x'_i) · ∫_0^1 ∂f(x' + α (x - x')) / ∂x_i dα

approximated with ``steps`` points of captum's rule (Gauss-Legendre by default). Completeness: ``Σ_i IG_i(x) =
f(x) - f(x')``; the gap of the approximation, ``Σ_i IG_i - (f(x) - f(x'))``, is recorded as ``convergence_delta``
(``results.json`` and the image page). The steps run ``attribution.batch_size`` at a time (captum's
``internal_batch_size``). The baseline is named (:mod:`.baselines`), ``black`` by default.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...data import PreparedImage
from ...errors import ConfigError
from ...numbers import rounded
from .baselines import Baseline, baseline
from .captum_adapter import Attributed, CaptumExplainer


class IntegratedGradientsParams(BaseModel):
    """``[attribution.integratedgradients]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    steps: int = 128
    """Points on the path (captum's ``n_steps``). 128, not captum's 50: on EfficientNet-Lite0 (ReLU6) with the black
    baseline, 50 Gauss-Legendre points left a completeness gap of 10% of ``f(x) - f(x')`` on the goldfish at 224 px,
    128 left 1.7% (``tests/test_gradient_methods.py`` checks 2%)."""
    rule: Literal["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"] = "gausslegendre"
    """The integration rule (captum's ``method``)."""
    baseline: Baseline = "black"

    def check(self) -> None:
        if self.steps < 2:
            raise ConfigError("attribution.integratedgradients: steps >= 2 is required")


class IntegratedGradientsExplainer(CaptumExplainer):
    """captum's ``IntegratedGradients(model).attribute(x, baseline, target, n_steps, method, internal_batch_size)``."""

    name = "integratedgradients"
    batched = True
    method: IntegratedGradientsParams

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        p = self.method
        reference = baseline(p.baseline, x, self.preprocess, self.seed)
        found, delta = self.attr.IntegratedGradients(model).attribute(
            x, baselines=reference, target=target, n_steps=p.steps, method=p.rule,
            internal_batch_size=self.batch_size, return_convergence_delta=True)
        return Attributed(found, fields={"convergence_delta": rounded(float(delta.item()))})
