"""The model copy that absorbs a constant shift of its input (Kindermans et al., "The (Un)reliability of Saliency
Methods", 2019, section 3): with first layer z = W x + b, the copy's bias is b - W m, so the copy on x + m computes
exactly what the model computes on x (away from a convolution's zero-padded border)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def first_layer(model: nn.Module) -> nn.Module:
    """The first convolution or linear layer in the model's module order (the one that reads the input)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            return module
    raise ValueError("input invariance needs a model whose first layer is a convolution or a linear layer")


def shifted_model(model: nn.Module, shift: float) -> nn.Module:
    """A deep copy of ``model`` whose first layer's bias absorbs adding ``shift`` to every input value.

    The layer's response to the constant input m is ``m * sum(W)`` over its input channels and kernel (the response
    at an interior position); Quantus 0.6 takes the smallest value of the response map instead, which with zero
    padding is a border's partial sum (the two agree for a convolution without padding). A layer without a bias
    gets one.
    """
    copied = copy.deepcopy(model)
    layer = first_layer(copied)
    with torch.no_grad():
        response = shift * layer.weight.sum(dim=tuple(range(1, layer.weight.ndim)))
        if layer.bias is None:
            layer.bias = nn.Parameter(-response)
        else:
            layer.bias -= response
    return copied
