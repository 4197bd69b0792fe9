"""Does every computation of a model get an LRP rule? One line naming what does not, before any relevance.

zennit applies a rule to each module its composite maps; a module it does not map is left to the plain gradient,
and so is every functional operation between modules. For a linear, a convolution or a nonlinearity this is
silently wrong relevance (the pitfall of captum #792, where unknown layers passed through). Two checks, on a
canonized copy of the model (:mod:`.lrp_canonizers`) under the composite, with its parameters frozen:

* **Modules**: every leaf module (a batch norm with children, timm's ``BatchNormAct2d``, counts as one) is mapped
  to a rule by the composite, or is one whose gradient is the accepted LRP treatment: an identity, dropout or
  flatten (no arithmetic) and max pooling (relevance to the maximum, Montavon et al. 2019, Sec. 10.2).
* **Functional arithmetic**: in one forward pass, every ``+ - * / @`` (and their in-place and ``torch.*`` forms)
  whose operands are two tensors that both depend on the input, outside a module the composite maps: a residual
  addition no canonizer rewrote, a squeeze-excitation gate, an attention product. Found with a
  ``TorchFunctionMode`` that records the innermost module running at that moment (forward pre- and post-hooks).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves
from zennit.core import Composite

from ...errors import ConfigError

GRADIENT_IS_THE_RULE = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                        nn.AdaptiveMaxPool2d)
"""Modules without a rule whose plain gradient is LRP's treatment (see the module docstring)."""
ARITHMETIC = {"add", "sub", "rsub", "mul", "div", "truediv", "matmul", "bmm", "mm", "einsum", "baddbmm", "addcmul"}
"""Functional operations that combine two computed tensors (names without underscores or the in-place ``i``)."""


def _leaves(module: nn.Module, name: str = ""):
    """(name, module) of every leaf, a batch norm with children as one (as :func:`.lrp_canonizers._units`)."""
    children = list(module.named_children())
    if not children or isinstance(module, nn.modules.batchnorm._BatchNorm):
        yield name, module
        return
    for child_name, child in children:
        yield from _leaves(child, f"{name}.{child_name}" if name else child_name)


def unmapped_modules(model: nn.Module, composite: Composite) -> list[str]:
    """Leaves of ``model`` the composite gives no rule and whose gradient is not LRP's treatment: ``name (Type)``."""
    ctx: dict = {}
    missing = []
    for name, module in _leaves(model):
        if isinstance(module, GRADIENT_IS_THE_RULE) or composite.module_map(ctx, name, module) is not None:
            continue
        missing.append(f"{name or 'the model'} ({type(module).__name__})")
    return missing


def _op_name(func) -> str:
    name = getattr(func, "__name__", "").strip("_")
    return name[1:] if name.startswith("i") and name[1:] in ARITHMETIC else name


class _Arithmetic(TorchFunctionMode):
    """Records where two input-dependent tensors meet in an arithmetic operation (see the module docstring)."""

    def __init__(self, where: list[str], mapped: set[int]) -> None:
        super().__init__()
        self.where, self.mapped, self.found = where, mapped, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _op_name(func) in ARITHMETIC and self.where and self.where[-1][1] not in self.mapped:
            computed = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad]
            if len(computed) >= 2:
                self.found.append(f"{self.where[-1][0] or 'the model'} ({_op_name(func)})")
        return func(*args, **kwargs)


def unruled_arithmetic(model: nn.Module, composite: Composite, x: torch.Tensor) -> list[str]:
    """Where ``model`` (canonized by the composite) combines two input-dependent tensors outside a mapped module, as
    ``module name (operation)``, in the order of one forward pass of ``x``."""
    frozen = copy.deepcopy(model).requires_grad_(False)
    where: list[tuple[str, int]] = []
    handles = []
    with composite.context(frozen) as modified:
        mapped = {id(m) for _name, m in _mapped_modules(modified, composite)}
        for name, module in modified.named_modules():
            handles.append(module.register_forward_pre_hook(
                lambda _m, _a, name=name, key=id(module): where.append((name, key))))
            handles.append(module.register_forward_hook(lambda *_a: where.pop() and None))  # None: output kept
        mode = _Arithmetic(where, mapped)
        try:
            with mode:
                modified(x.detach().clone().requires_grad_(True))
        finally:
            for handle in handles:
                handle.remove()
    return list(dict.fromkeys(mode.found))


def _mapped_modules(model: nn.Module, composite: Composite):
    ctx: dict = {}
    for name, module in model.named_modules():
        if composite.module_map(ctx, name, module) is not None:
            yield name, module


def check_rules(model: nn.Module, composite: Composite, x: torch.Tensor, model_name: str) -> None:
    """ConfigError (one line naming the first few) when a module or a functional operation has no LRP rule."""
    missing = unmapped_modules(model, composite)
    what = "modules with no LRP rule"
    if not missing:
        missing, what = unruled_arithmetic(model, composite, x), "operations on two computed tensors with no LRP rule"
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise ConfigError(f"attribution.methods: lrp cannot explain {model_name}: {what}: {shown}; "
                          "zennit's composites cover convolutions, linear layers, batch norms, activations, "
                          "pooling and the residual blocks of torchvision and timm ResNets and EfficientNets")
