"""Completeness (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017; Quantus 0.6's
``Completeness``): a map is complete when its pixels sum to the class's score change from the baseline to the image,

.. math:: \\sum_{h,w} a_{hw} = f(x) - f(x'),

with f the class's logit and x' the black image (pixel zeros, then normalised: :mod:`..faithfulness.baseline`).
The score is the relative gap :math:`|\\sum a - (f(x) - f(x'))| \\,/\\, |f(x) - f(x')|`: 0 for a complete map,
lower is better. The map is taken as it is, with its sign and scale (Quantus normalises it by default and then tests
exact equality, which no map passes; the paper's property needs the raw map).

Integrated Gradients (with this baseline), DeepLIFT and LRP-0 without biases claim completeness, and their gap
measures how well they keep the claim (path integration steps, biases). For the other methods (CAMs, LIME, RISE,
which rescale their maps) the gap only says how far the map's total is from the score change: it is computed, not
a verdict on the method.
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import Metric, MetricInput, NoParams, Passes, Score
from ..faithfulness.baseline import black_input, class_outputs


def score_change(inputs: MetricInput) -> float:
    """f(x) - f(black): the class's logit on the image minus on the black baseline (two forward passes)."""
    x = inputs.x.detach()
    scores = class_outputs(inputs.model, torch.cat([x, black_input(x, inputs.preprocess)]), inputs.target,
                           inputs.batch_size, softmax=False)
    return float(scores[0] - scores[1])


def completeness(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """Each method's completeness gap (module docstring): two forward passes per image, shared."""
    change = score_change(inputs)
    if change == 0:
        return {m: Score.absent("the class's score is the same on the image and on black") for m in inputs.maps}
    return {m: Score.of(abs(float(a.astype(np.float64).sum()) - change) / abs(change)) for m, a in inputs.maps.items()}


METRIC = Metric(
    name="completeness", title="Completeness", family="axiomatic",
    citation="Sundararajan et al., Axiomatic Attribution for Deep Networks, ICML 2017",
    higher_is_better=False, compute=completeness, cost=lambda params: Passes(2))
