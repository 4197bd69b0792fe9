"""Input Invariance (Kindermans, Hooker, Adebayo, Alber, Schuett, Daehne, Erhan & Kim, "The (Un)reliability of
Saliency Methods", in Explainable AI, Springer LNCS 11700, 2019; Quantus 0.6's ``InputInvariance``): shift every
input value by a constant m and give the model a copy whose first layer's bias absorbs the shift
(:mod:`.shifted_model`). The two models compute the same function of the original image, so a map that only
explains the function must not change.

The method is re-run on the shifted copy and the shifted input (``inputs.explainers``); the score is 1 when every
pixel of that map is within ``atol`` (plus numpy's relative 1e-5) of the method's map, else 0 (Quantus's test, maps taken as they are, no
normalisation and sign kept): higher is better. Plain gradients and Grad-CAM are invariant; gradient x input and
Integrated Gradients with a zero baseline are not (the paper's finding). A method whose map depends on chance
passes only when its re-run repeats its draws (the explainers are seeded from the study's seed).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from .shifted_model import shifted_model

NAME = "input_invariance"


class InputInvarianceParams(BaseModel):
    """``[metrics.input_invariance]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shift: float = -1.0
    """The constant m added to every normalised input value (Quantus's ``input_shift``)."""
    atol: float = 1e-4
    """Largest per-pixel difference still counted as unchanged (Quantus's ``np.isclose`` tolerance)."""

    def check(self) -> None:
        if self.shift == 0 or not self.atol > 0:
            raise ConfigError(f"metrics.{NAME}: shift != 0 and atol > 0 are required")


def input_invariance(inputs: MetricInput, params: InputInvarianceParams, seed: int) -> dict[str, Score]:
    """Each method's invariance (module docstring): one re-run of the method per image."""
    model = shifted_model(inputs.model, params.shift).eval()
    shifted = inputs.x.detach() + params.shift
    found = {}
    for method, saliency in inputs.maps.items():
        explain = inputs.explainers.get(method)
        if explain is None:
            found[method] = Score.absent("the method cannot be re-run here")
            continue
        again = np.asarray(explain(model, shifted, inputs.target), dtype=np.float64)
        if again.shape != saliency.shape:
            found[method] = Score.absent(f"the re-run's map has shape {again.shape}, not {saliency.shape}")
            continue
        found[method] = Score.of(float(np.allclose(saliency.astype(np.float64), again, atol=params.atol)))
    return found


METRIC = Metric(
    name=NAME, title="Input Invariance", family="axiomatic",
    citation="Kindermans et al., The (Un)reliability of Saliency Methods, Explainable AI (LNCS 11700), 2019",
    higher_is_better=True, compute=input_invariance, cost=lambda params: Passes(1, 1),
    params=InputInvarianceParams, needs=frozenset({"explain"}))
