"""What the localisation metrics share: the image's object mask (or why there is none) and each method's map
checked before it is scored against the mask.

A metric scores the maps against ``inputs.boxes`` (bool HxW in the model's input frame, :func:`.boxes.metric_mask`)
with :func:`score_against_boxes`, or, when it prepares the mask once per image first (the pointing game's
tolerance), with :func:`object_mask` and :func:`score_each`; either gives every method the same reason when
there is no mask or its map cannot be scored (non-finite values, zero everywhere).
"""

from __future__ import annotations

from typing import Callable, Literal, Mapping, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..base import MetricInput, Score

NO_BOXES = "the study gives no object boxes for this image (attribution.boxes)"
NO_OBJECT = "the image's boxes mark no object inside the model's input crop"
NON_FINITE = "the map has non-finite values"
ZERO = "the map is zero everywhere: it points nowhere"


class PooledParams(BaseModel):
    """``[metrics.relevance_mass_accuracy]``, ``[metrics.relevance_rank_accuracy]``: how a signed map becomes the
    non-negative relevance the metric reads."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pooling: Literal["abs", "positive"] = "abs"
    """``abs``: :math:`|S|` (evidence for and against the class); ``positive``: :math:`\\max(S, 0)` (evidence
    for it). Arras et al.'s evaluation pools a map to non-negative relevance, with either of these among its
    options (their ``sum,abs`` and ``sum,pos``); a CAM, non-negative, is the same under both."""

    def check(self) -> None:
        """Checks beyond types (none)."""


def pooled(values: np.ndarray, pooling: str) -> np.ndarray:
    """The non-negative relevance of a map (:class:`PooledParams`)."""
    return np.abs(values) if pooling == "abs" else np.maximum(values, 0.0)


def no_relevance(pooling: str) -> Score:
    """No number: nothing is left of the map after ``pooling`` (a map without positive values)."""
    return Score.absent(f"the map has no {'positive ' if pooling == 'positive' else ''}relevance")


def object_mask(inputs: MetricInput) -> tuple[Optional[np.ndarray], Optional[str]]:
    """``(mask, None)``, or ``(None, reason)`` when the study gives no boxes or they cover no input pixel."""
    if inputs.boxes is None:
        return None, NO_BOXES
    mask = np.asarray(inputs.boxes, dtype=bool)
    if not mask.any():
        return None, NO_OBJECT
    return mask, None


def absent_for_all(maps: Mapping[str, np.ndarray], reason: str) -> dict[str, Score]:
    """Every method: no number, and ``reason``."""
    return {method: Score.absent(reason) for method in maps}


def score_each(maps: Mapping[str, np.ndarray], shape: tuple[int, ...],
               score: Callable[[np.ndarray], Score]) -> dict[str, Score]:
    """``score(map as float64)`` for each method whose map is finite and not zero everywhere; ``shape``: the
    mask's, which every map must have (the model's input frame)."""
    found = {}
    for method, saliency in maps.items():
        values = np.asarray(saliency, dtype=np.float64)
        if values.shape != shape:
            raise ValueError(f"{method}: map {values.shape} and box mask {shape} differ in shape")
        if not np.isfinite(values).all():
            found[method] = Score.absent(NON_FINITE)
        elif not values.any():
            found[method] = Score.absent(ZERO)
        else:
            found[method] = score(values)
    return found


def score_against_boxes(inputs: MetricInput,
                        score: Callable[[np.ndarray, np.ndarray], Score]) -> dict[str, Score]:
    """``score(map as float64, mask)`` for each method (see :func:`score_each`), or every method absent with the
    reason when there is no object mask."""
    mask, reason = object_mask(inputs)
    if mask is None:
        return absent_for_all(inputs.maps, reason)
    return score_each(inputs.maps, mask.shape, lambda values: score(values, mask))
