"""Models whose ``forward`` returns more than a logits tensor: one stated rule makes them classifiers.

Everything downstream (grad-cam's CAMs, LIME, RISE, the metrics) calls ``model(x)`` and expects the logits
tensor. Hugging Face models return a ``ModelOutput``, and a user's own model may return a tuple or a dict.
:class:`LogitsOutput` wraps such a model so that ``forward`` returns the logits, found by the rule of
:func:`logits_of`: the ``logits`` key or attribute, else the first tensor (in order) of a tuple, list or dict.
Anything else stops the build with one line.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import BadInput

RULE = "the `logits` key or attribute, else the first tensor of the output"
"""The rule, as the pages and errors state it."""


def logits_of(output: object, where: str = "the model") -> torch.Tensor:
    """The logits in a model's output by the rule :data:`RULE`; BadInput (one line) when there are none.

    Args:
        output: what ``model(x)`` returned: a tensor, a ``ModelOutput``, a dict, a tuple or a list.
        where: names the model in the error.

    Returns:
        The logits tensor (N x classes).
    """
    if isinstance(output, torch.Tensor):
        return output
    found = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    if isinstance(found, torch.Tensor):
        return found
    values = list(output.values()) if isinstance(output, Mapping) else list(output) if isinstance(output, (tuple, list)) else []
    for value in values:
        if isinstance(value, torch.Tensor):
            return value
    raise BadInput(f"{where} returned {type(output).__name__} with no tensor to use as logits; "
                   f"its forward must return {RULE}")


class LogitsOutput(nn.Module):
    """``model`` whose ``forward`` returns only the logits (:func:`logits_of`). Layers keep the wrapped model's
    names in a study (``vit.layers[-1].layernorm_before``; :func:`~.layers.resolve_layer` looks inside)."""

    names_inside = True

    def __init__(self, model: nn.Module, where: str = "the model") -> None:
        super().__init__()
        self.model = model
        self.where = where

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(x), self.where)


def as_classifier(module: nn.Module, probe: torch.Tensor, where: str) -> nn.Module:
    """``module`` itself when ``module(probe)`` is a tensor, else wrapped in :class:`LogitsOutput` (checked on
    ``probe``: BadInput when the output holds no tensor or the logits are not N x classes)."""
    with torch.inference_mode():
        output = module(probe)
    logits = logits_of(output, where)
    if logits.ndim != 2 or logits.shape[0] != probe.shape[0]:
        raise BadInput(f"{where}: its logits have shape {tuple(logits.shape)}; expected (batch, classes)")
    return module if isinstance(output, torch.Tensor) else LogitsOutput(module, where)
