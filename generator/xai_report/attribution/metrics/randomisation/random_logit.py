"""Random Logit test (Sixt, Granz & Landgraf, "When Explanations Lie: Why Many Modified BP Attributions Fail",
ICML 2020): how similar is the explanation of the explained class to that of a random other class?

With :math:`c` the explained class and :math:`c'` drawn uniformly from the other classes (from the seed),

.. math:: \\mathrm{RL} = \\mathrm{SSIM}\\big(\\hat\\Phi_c(x),\\ \\hat\\Phi_{c'}(x)\\big)

where :math:`\\hat\\Phi` is the map divided by its largest magnitude (Quantus 0.6's defaults ``normalise=True``,
``abs=False``) and SSIM is scikit-image's ``structural_similarity`` (7x7 window) with the pair's value range as its
``data_range``. Lower is better: an explanation that does not depend on the class is not explaining the class.

Where Quantus and the paper differ: Quantus computes SSIM on the flattened maps (1-D windows along the rows); the
paper compares the maps as images, and so does this, in 2-D (``tests/test_metric_randomisation.py`` gives the
difference). The random class is drawn as Quantus does (an index among the other classes in ascending order).
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity

from ..base import Metric, MetricInput, NoParams, Passes, Score
from ..rerun import explain, normalise_by_max, split

WINDOW = 7


def other_class(classes: int, target: int, seed: int) -> int:
    """A class other than ``target``, uniform among the ``classes - 1`` others, from ``seed``."""
    index = int(np.random.default_rng(seed).integers(0, classes - 1))
    return index if index < target else index + 1


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two maps as images, over the value range of both (nan when both are the same constant)."""
    span = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    return float(structural_similarity(a, b, win_size=WINDOW, data_range=span)) if span > 0 else float("nan")


def random_logit(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """Each re-runnable method's Random Logit similarity (module docstring): one forward pass for the number of
    classes, then one re-run per method."""
    runs, found = split(inputs)
    if not runs:
        return found
    with torch.no_grad():
        classes = int(inputs.model(inputs.x).shape[-1])
    if classes < 2:
        return found | {m: Score.absent("the model has one class: there is no other class") for m in runs}
    other = other_class(classes, inputs.target, seed)
    for m, run in runs.items():
        a = normalise_by_max(inputs.maps[m].astype(np.float64))
        if min(a.shape) < WINDOW:
            found[m] = Score.absent(f"the map is smaller than SSIM's {WINDOW}x{WINDOW} window")
            continue
        b = normalise_by_max(explain(run, inputs.model, inputs.x, other))
        found[m] = Score.of(ssim(a, b))
    return found


METRIC = Metric(
    name="random_logit", title="Random Logit", family="randomisation",
    citation="Sixt, Granz & Landgraf, When Explanations Lie: Why Many Modified BP Attributions Fail, ICML 2020",
    higher_is_better=False, compute=random_logit, needs=frozenset({"explain"}), cost=lambda params: Passes(1, 1))
"""Cost: one re-run of the method for the other class (counted as a forward and a backward pass), and one forward
pass per image, shared by the methods, for the number of classes."""
