"""Pointing Game (Zhang et al., "Top-Down Neural Attention by Excitation Backprop", IJCV 126, 2018, Sec. 5.1):
does the map's maximum fall on the object?

A hit when a maximum point of the map ``S`` lies within ``tolerance`` pixels of the object mask ``B``:

.. math:: \\text{hit} = \\big[\\exists\\, p \\in \\arg\\max_q S(q):\\; d(p, B) \\le \\tau\\big] \\in \\{0, 1\\},

with :math:`d` the Euclidean distance (in pixels of the model's input frame) to the nearest pixel of ``B``; the
study's mean over images is the paper's accuracy, hits / (hits + misses). The map is used as given (signed maps
keep their sign; scaling does not move the maximum), as Quantus 0.6 does (``abs=False``; its max-normalisation
does not change the argmax). Ties: a hit when any of the maximal pixels is near the object, as in Quantus.

Where Quantus 0.6 and the paper differ, this follows the paper: the paper counts a hit within a 15-pixel
tolerance (``tolerance = 15``, the default), Quantus 0.6's ``PointingGame`` has no tolerance (it equals
``tolerance = 0``; ``tests/test_metric_localisation.py`` shows both). Quantus's ``weighted`` option is left out:
in 0.6 it raises a TypeError (it assigns a 2-D array into a boolean index of its bool hits). An image without
an object in the input, or a map that is zero everywhere, has no number; Quantus 0.6 counts both a hit (it
writes nan into its bool hits, which reads True; every pixel of a zero map is a maximum).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import ndimage

from ....errors import ConfigError
from ..base import Metric, MetricInput, Passes, Score
from .against_boxes import absent_for_all, object_mask, score_each

TOLERANCE = 15


class PointingGameParams(BaseModel):
    """``[metrics.pointing_game]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tolerance: int = TOLERANCE
    """Pixels (model's input frame) by which the maximum may miss the boxes and still hit: 15 in Zhang et al.;
    0 is Quantus 0.6's ``PointingGame``."""

    def check(self) -> None:
        if self.tolerance < 0:
            raise ConfigError(f"metrics.pointing_game.tolerance must be >= 0 pixels, got {self.tolerance}")


def near(mask: np.ndarray, tolerance: int) -> np.ndarray:
    """The pixels within ``tolerance`` (Euclidean, pixels) of ``mask``: the mask grown by the tolerance."""
    if tolerance == 0:
        return mask
    return ndimage.distance_transform_edt(~mask) <= tolerance


def pointing_game(inputs: MetricInput, params: PointingGameParams, seed: int) -> dict[str, Score]:
    """Each method's hit (1.0) or miss (0.0), see the module docstring; no model pass."""
    mask, reason = object_mask(inputs)
    if mask is None:
        return absent_for_all(inputs.maps, reason)
    target = near(mask, params.tolerance)
    return score_each(inputs.maps, mask.shape,
                      lambda values: Score.of(float(np.any(target & (values == values.max())))))


METRIC = Metric(
    name="pointing_game", title="Pointing Game", family="localisation",
    citation="Zhang et al., Top-Down Neural Attention by Excitation Backprop, IJCV 2018",
    higher_is_better=True, compute=pointing_game, cost=lambda params: Passes(0, 0),
    params=PointingGameParams, needs=frozenset({"boxes"}))
