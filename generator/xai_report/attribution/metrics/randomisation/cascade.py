"""Cascading randomisation of a model's layers, on a copy: the steps of the MPRT family (Adebayo et al., "Sanity
Checks for Saliency Maps", NeurIPS 2018, Sec. 3.1; Hedstroem et al., "Sanity Checks Revisited", 2023).

The randomisable layers are the submodules that define ``reset_parameters`` (convolutions, linear layers, norms), in
``named_modules()`` order, as Quantus 0.6's ``get_random_layer_generator`` takes them; ``"top_down"`` reverses that
order (output first), ``"bottom_up"`` keeps it. The layers are grouped into steps by the first ``depth`` parts of
their qualified name: for timm's EfficientNet-Lite0, ``depth=2`` gives 12 steps (``conv_stem``, ``bn1``,
``blocks.0`` .. ``blocks.6``, ``conv_head``, ``bn2``, ``classifier``), as Adebayo et al. randomise Inception v3 block
by block; a depth at least that of the deepest name gives Quantus's one step per layer. Step :math:`k` re-draws the
layers of steps :math:`1..k` (cascading).

Each layer is re-drawn by its own ``reset_parameters()`` after ``torch.manual_seed(seed + 1)``, exactly as Quantus
does (so the same seed gives Quantus's weights), inside a forked RNG so the caller's random state is untouched, and
on a CPU copy of the model (so a GPU build draws the same weights); the model passed in is never modified.
"""

from __future__ import annotations

import copy
from typing import Iterator, Literal

import torch
from torch import nn

Order = Literal["top_down", "bottom_up"]

NO_LAYERS = "the model has no layer that can re-draw its weights (no submodule with reset_parameters)"


def randomisable(model: nn.Module) -> list[str]:
    """The qualified names of the submodules that can re-draw their parameters, in ``named_modules()`` order."""
    return [name for name, module in model.named_modules() if hasattr(module, "reset_parameters")]


def steps(model: nn.Module, order: Order, depth: int) -> list[tuple[str, list[str]]]:
    """The cascade's steps: (step name, its layers), in the order they are randomised; a ``depth`` of 0 makes one
    step, ``"all"``, of every layer (full randomisation)."""
    layers = randomisable(model)
    if order == "top_down":
        layers = layers[::-1]
    grouped: dict[str, list[str]] = {}
    for name in layers:
        grouped.setdefault(".".join(name.split(".")[:depth]) if depth else "all", []).append(name)
    return list(grouped.items())


@torch.no_grad()
def cascade(model: nn.Module, order: Order, depth: int, seed: int) -> Iterator[tuple[str, nn.Module]]:
    """For each step of :func:`steps`: its name and a copy of ``model`` (on ``model``'s device, in its mode) whose
    layers of this and every earlier step are re-drawn (module docstring)."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    work = copy.deepcopy(model).cpu()
    modules = dict(work.named_modules())
    for name, layers in steps(model, order, depth):
        with torch.random.fork_rng(devices=[]):
            for layer in layers:
                torch.manual_seed(seed + 1)
                modules[layer].reset_parameters()
        yield name, work if device.type == "cpu" else copy.deepcopy(work).to(device)


def fully_randomised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer re-drawn (the last step of any cascade of the same seed)."""
    (_, randomised), = cascade(model, "bottom_up", 0, seed)
    return randomised
