"""The model check DeepLift and Guided Backprop run first: both replace the backward pass of activation *modules*
(captum hooks ``nn.ReLU`` instances), so what the model does outside such modules is silently explained wrong
(captum #1082, #934). One traced forward pass of the image finds:

* **in-place activations** (``nn.ReLU(inplace=True)``, timm's default): fixed on a copy, ``inplace=False``;
* **a module instance called twice** (torchvision's ``BasicBlock.relu``): fixed on a copy, the module replaced by
  :class:`PerCall`, which hands each call of a forward pass to a separate instance;
* **ReLU6** (``nn.ReLU6``, EfficientNet-Lite's activation): captum hooks only ``nn.ReLU``, so ReLU6 would be
  differentiated plainly. For Guided Backprop the copy replaces it with :class:`GuidedReLU6` (an ``nn.ReLU`` that
  computes ReLU6, so the guided rule -- keep positive gradients only -- applies to it); DeepLift has no rule for
  it in captum and stops with one line naming the module;
* **a functional activation** (``F.relu``, ``torch.sigmoid``, ``x.relu()`` ... called by a module's own
  ``forward``, outside any activation module): cannot be fixed without editing the model's code, so it stops
  with one line naming the module whose forward calls it.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Iterable

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from ...errors import ConfigError

FUNCTIONAL = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, F.relu6, F.hardtanh,
              F.elu, F.leaky_relu, F.silu, F.gelu, F.hardswish, F.hardsigmoid, F.softplus, F.mish, torch.sigmoid,
              torch.Tensor.sigmoid, torch.tanh, torch.Tensor.tanh, F.sigmoid, F.tanh}
"""Non-linear functions a forward may call directly; inside an activation module they are that module's."""

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.SiLU, nn.GELU,
               nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Hardtanh)
"""Activation modules: a functional call inside one of these is the module's own."""


class GuidedReLU6(nn.ReLU):
    """ReLU6 as an ``nn.ReLU`` subclass, so captum's Guided Backprop hooks it: forward ``min(max(x, 0), 6)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x, inplace=False)


class PerCall(nn.Module):
    """Stands in for an activation instance a forward calls several times: call ``i`` of a forward pass goes to
    copy ``i`` (the counter restarts with each forward of the model, :func:`corrected`'s pre-hook)."""

    def __init__(self, module: nn.Module, calls: int) -> None:
        super().__init__()
        self.copies = nn.ModuleList(copy.deepcopy(module) for _ in range(calls))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.copies[self.calls % len(self.copies)](x)
        self.calls += 1
        return out


class _Trace(TorchFunctionMode):
    """Records the functional activations called outside activation modules, by the module that called them."""

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack = stack
        self.functional: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in FUNCTIONAL and self.stack and not self.stack[-1].startswith("\0"):
            self.functional.append(self.stack[-1])
        return func(*args, **(kwargs or {}))


def traced(model: nn.Module, x: torch.Tensor) -> tuple[Counter, list[str]]:
    """(calls per module name, names of modules whose forward calls a functional activation) for one pass."""
    calls: Counter = Counter()
    stack: list[str] = []
    handles = []
    for name, module in model.named_modules():
        # Activation modules enter the stack marked, so their own functional call is theirs.
        label = ("\0" if isinstance(module, ACTIVATIONS) else "") + (name or type(module).__name__)

        def pre(_m, _a, label=label, name=name):
            calls[name] += 1
            stack.append(label)

        def post(_m, _a, _out) -> None:
            stack.pop()

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    trace = _Trace(stack)
    try:
        with torch.no_grad(), trace:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return calls, list(dict.fromkeys(trace.functional))


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def corrected(model: nn.Module, x: torch.Tensor, method: str, relu6: bool) -> nn.Module:
    """The model itself if it needs no correction, else a corrected copy (see the module docstring); a
    :class:`ConfigError` naming the module where it cannot be corrected. ``relu6``: ReLU6 may become
    :class:`GuidedReLU6` (Guided Backprop), else it is refused (DeepLift)."""
    calls, functional = traced(model, x)
    if functional:
        raise ConfigError(f"method {method}: the forward of module {functional[0]!r} calls an activation function, "
                          "which captum cannot see; use a model with activation modules or leave the method out")
    acts = [(n, m) for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]
    unsupported = [n for n, m in acts if type(m) is nn.ReLU6 and not relu6]
    if unsupported:
        raise ConfigError(f"method {method}: module {unsupported[0]!r} is a ReLU6, which captum's {method} has no "
                          "rule for (it would be differentiated plainly); leave the method out for this model")
    fixes = [(n, m) for n, m in acts
             if getattr(m, "inplace", False) or calls[n] > 1 or type(m) is nn.ReLU6]
    if not fixes:
        return model
    fixed = copy.deepcopy(model)
    for name, module in fixes:
        replacement = copy.deepcopy(module)
        if type(module) is nn.ReLU6:
            replacement = GuidedReLU6()
        if hasattr(replacement, "inplace"):
            replacement.inplace = False
        if calls[name] > 1:
            replacement = PerCall(replacement, calls[name])
        _set(fixed, name, replacement)
    fixed.register_forward_pre_hook(lambda m, _a: _restart(m.modules()))
    return fixed.eval()


def _restart(modules: Iterable[nn.Module]) -> None:
    for module in modules:
        if isinstance(module, PerCall):
            module.calls = 0
