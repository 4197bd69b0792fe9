"""What every metric of the registry (:mod:`.registry`) takes and gives, and how it declares itself.

In the manner of Quantus's ``Metric`` (a name, a score direction, an evaluation category, one override point), but
for one image at a time and every method's map of it at once, so that a metric can put the perturbed inputs of all
the methods of one image in the same forward passes:

* :class:`MetricInput` -- one image (the model's normalised input), the explained class, every method's map, and
  what some metrics need besides: the object boxes, a way to re-run a method (robustness, randomisation).
* :class:`Score` -- one method's number on one metric, or why there is none (a nan or inf is never a number).
* :class:`Metric` -- a registry entry: name (the Quantus class in snake_case), family, citation, direction, typed
  parameters (validated from the study's ``[metrics.<name>]`` table, one-line errors), what it needs, its cost in
  passes, and its compute function ``compute(inputs, params, seed) -> {method: Score}``.

A metric module (``metrics/<family>/<name>.py``) holds its parameter model, its compute function and its entry
``METRIC``; the registry only lists the entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Optional

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...config.messages import table_parameters
from ...models.preprocess import Preprocess

Family = Literal["faithfulness", "robustness", "localisation", "complexity", "randomisation", "axiomatic"]
"""Quantus's six families of metrics (Hedstroem et al., JMLR 2023)."""

Need = Literal["boxes", "explain", "tokens", "signed"]
"""What a metric needs beyond the maps: the object boxes; re-running the method (on perturbed inputs or randomised
models); a token model; a signed map (a method whose exported map keeps its sign)."""

Explain = Callable[[nn.Module, torch.Tensor, int], np.ndarray]
"""Re-run one method: (model, normalised input (1, C, H, W), class) -> its map (float32 HxW)."""


@dataclass(frozen=True)
class MetricInput:
    """One image and every method's map of it: what a metric's compute function reads."""

    model: nn.Module
    """The model, in eval mode, on its device."""
    x: torch.Tensor
    """The model's normalised input, (1, C, H, W), on the model's device."""
    target: int
    """The explained class."""
    maps: Mapping[str, np.ndarray]
    """Method -> its exported map (float32 HxW at the model's input resolution)."""
    preprocess: Preprocess
    """The model's input pipeline: its mean and std turn pixels into the normalised input and back."""
    boxes: Optional[np.ndarray] = None
    """bool HxW in the model's input frame: inside the image's object boxes (None: the study gives none)."""
    explainers: Mapping[str, Explain] = field(default_factory=dict)
    """Method -> a re-run of it, for the metrics that need one (``"explain"``)."""
    batch_size: int = 32
    """Images per forward pass (``attribution.batch_size``)."""


@dataclass(frozen=True)
class Score:
    """One method's result on one metric: ``value``, or None and ``reason``; ``curve``: the values behind it, when
    it summarises a curve (pixel flipping's, the cascading randomisation's)."""

    value: Optional[float]
    reason: Optional[str] = None
    curve: Optional[tuple[float, ...]] = None

    @classmethod
    def of(cls, value: float, curve: Optional[tuple[float, ...]] = None) -> Score:
        """A computed number; a nan or an inf becomes no number, with the reason."""
        value = float(value)
        if math.isnan(value):
            return cls(None, "the metric gave nan (for example a constant map or constant scores)", curve)
        if math.isinf(value):
            return cls(None, "the metric gave an infinite value", curve)
        return cls(value, None, curve)

    @classmethod
    def absent(cls, reason: str) -> Score:
        """No number, and why."""
        return cls(None, reason)


class NoParams(BaseModel):
    """A metric without parameters: any key in ``[metrics.<name>]`` is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def check(self) -> None:
        """Checks beyond types (none)."""


@dataclass(frozen=True)
class Passes:
    """A metric's cost for one method's map of one image: forward passes, backward passes, and solves (other work per
    map that costs as much as many passes: ROAD's noisy linear imputation is a sparse solve of the image's size)."""

    forward: int
    backward: int = 0
    solves: int = 0


@dataclass(frozen=True)
class Metric:
    """A registry entry (see the module docstring)."""

    name: str
    """The Quantus class in snake_case (``road``, ``sparseness``, ...): the study's and ``results.json``'s name."""
    title: str
    family: Family
    citation: str
    higher_is_better: bool
    """The direction: True when a higher value means a better explanation."""
    compute: Callable[[MetricInput, BaseModel, int], dict[str, Score]]
    """``compute(inputs, params, seed) -> {method: Score}`` for every method of ``inputs.maps``."""
    cost: Callable[[BaseModel], Passes]
    """Passes per method and image, from the parameters."""
    params: type[BaseModel] = NoParams
    """Validates ``[metrics.<name>]``; its ``check()`` says what types cannot."""
    needs: frozenset[Need] = frozenset()

    def parameters(self, table: dict) -> BaseModel:
        """The study's ``[metrics.<name>]`` table, validated (one-line :class:`ConfigError` naming the key)."""
        return table_parameters(self.params, table, f"metrics.{self.name}")
