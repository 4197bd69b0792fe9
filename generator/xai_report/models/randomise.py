"""A re-initialised copy of a classifier: the model-randomisation test's untrained twin.

Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018, Sec. 3: an explanation (here also a neuron label)
that looks the same for a trained network and for the same architecture with random weights does not depend on
what the network learned. Their "full randomisation" re-draws every weight; so does :func:`randomised`:

* every submodule that defines ``reset_parameters`` (convolutions, linear layers, norms) re-draws its own
  parameters with PyTorch's default initialisation; batch norms also forget their running statistics
  (``reset_running_stats``: mean 0, variance 1), which would otherwise carry what the trained network saw;
* a parameter no such module owns (a learned scale or embedding of a custom block) is re-drawn from a normal
  with its own mean and standard deviation, so the scale stays and the learned pattern goes.

The copy is seeded (``torch.manual_seed(seed)`` inside a forked RNG, so the caller's random state is untouched),
so the same seed gives the same weights, and the copy's ``weights_id`` says both where it came from and the seed.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch import nn

from ..fingerprint import code_fingerprint
from .classifiers import LoadedModel


def _reinitialise(module: nn.Module) -> set[int]:
    """Re-draw the parameters of every submodule that can; the ids of the parameters it covered."""
    covered: set[int] = set()
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._NormBase):
            sub.reset_running_stats()
        if callable(getattr(sub, "reset_parameters", None)):
            sub.reset_parameters()
            covered.update(id(p) for p in sub.parameters(recurse=False))
    return covered


@torch.no_grad()
def randomised_module(module: nn.Module, seed: int) -> nn.Module:
    """A deep copy of ``module`` with every weight re-drawn (see the module docstring), in eval mode."""
    twin = copy.deepcopy(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        covered = _reinitialise(twin)
        for p in twin.parameters():
            if id(p) not in covered:
                std = float(p.std()) if p.numel() > 1 else 0.0
                p.normal_(float(p.mean()), std or 0.02)
    return twin.eval()


def randomised(model: LoadedModel, seed: int) -> LoadedModel:
    """``model`` with re-initialised weights (:func:`randomised_module`): same preprocessing and class names."""
    return replace(model, module=randomised_module(model.module, seed),
                   weights_id=f"{model.weights_id} randomised(seed={seed})",
                   description=f"{model.description} with re-initialised weights (seed {seed})".strip())


def twin_cache_id(twin: LoadedModel) -> dict:
    """What identifies a randomised twin in cache keys: its (randomised) weights id and preprocessing, and the
    fingerprint of the code that drew its weights, so a changed redraw never reuses the old twin's results."""
    return {**twin.cache_id(), "drawn_by": code_fingerprint(randomised_module)}
