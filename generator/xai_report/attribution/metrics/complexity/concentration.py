"""How spread out or concentrated a map is: the share of pixels near its peak, and its Gini index.

* :func:`spread` -- the share of pixels whose value is at least half the map's maximum (the area a "hot"
  region covers; a broad, diffuse map scores high, a focused one low). Undefined (``None``) when the maximum
  is not positive.
* :func:`gini` -- the Gini index of the map's positive part, the sparseness measure of Hurley & Rickard
  ("Comparing Measures of Sparsity", IEEE Trans. Inf. Theory 2009) that Chalasani et al. ("Concise
  Explanations of Neural Networks using Adversarial Training", ICML 2020) use for attributions. With the
  ``n`` values sorted ascending, ``c_1 <= ... <= c_n``,

      G = 1 - 2 * sum_k (c_k / ||c||_1) * (n - k + 1/2) / n,

  0 for a uniform map and ``1 - 1/n`` when one pixel holds everything. Chalasani et al. take absolute values;
  here the positive part is used, as for the energy (:mod:`.energy`): CAMs are non-negative by construction
  and a signed map's negative evidence (LIME's) is evidence against the class, not concentration of the
  evidence for it. ``None`` when the map has no positive mass.

Both read the map as the method gives it. A map with a large constant offset, such as RISE's (every pixel
carries the class's mean probability under the masks), has a spread near 1 and a Gini index near 0 whatever
its shape: compare these numbers between methods whose maps start at zero (the CAMs, LIME).
"""

from __future__ import annotations

import numpy as np

from ..localisation.energy import positive_part
from ..maps import ArrayLike, as_map
from . import sparseness

HALF = 0.5


def spread(saliency: ArrayLike) -> float | None:
    """Share of pixels with value ``>= 0.5 * max`` (non-finite pixels count as below); ``None`` if max <= 0."""
    arr = as_map(saliency)
    finite = np.isfinite(arr)
    if not finite.any():
        return None
    peak = float(arr[finite].max())
    if peak <= 0.0:
        return None
    return float(np.mean(finite & (arr >= HALF * peak)))


def gini(saliency: ArrayLike) -> float | None:
    """Gini index of the map's positive part (see the module docstring); ``None`` without positive mass.

    The formula above is :func:`.sparseness.gini`'s, ``sum_i (2i - n - 1) c_i / (n ||c||_1)``, rearranged; that
    function computes it, without the epsilon Quantus adds (this index reads the positive part, Sparseness the
    max-normalised absolute values)."""
    values = positive_part(saliency)
    if float(values.sum()) <= 0.0:
        return None
    return sparseness.gini(values, epsilon=0.0)
