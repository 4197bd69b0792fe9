"""Cut a network in two at one layer: a *head* (input -> that layer's output) and a *tail* (the rest).

Gradient-free CAMs perturb one layer's activations many times and only need the network *after* that
layer to score each perturbation. Running the head once and the tail many times is what makes
:class:`~xai_report.attribution.methods.ablation_cam.FastAblationCAM` fast.

The cut is made on a ``torch.fx`` graph: the model is symbolically traced with the target layer kept as
one opaque node (and timm's own "do not trace" modules and functions kept opaque too, so timm models
trace). Nodes up to and including the target node form the head; the rest form the tail. Values computed
before the cut and still needed after it ("boundary" values, e.g. a residual branch that skips over the
target layer) are returned by the head and passed to the tail. Only tensors with the batch as their first
dimension may cross the cut, so that the tail can be run on a different batch size than the head.

Typical cuts that work: torchvision ResNets at ``layer4[-1]`` (or any block or conv inside it), timm's
``tf_efficientnet_lite0`` at ``bn2`` / ``conv_head`` / ``blocks[-1]``. Models whose ``forward`` branches on
tensor values cannot be traced; :class:`SplitError` then says so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.fx as fx
from torch import nn

from ..errors import ConfigError


class SplitError(ConfigError):
    """The model cannot be cut at the requested layer (untraceable, layer unused or used twice, ...)."""


def _timm_notrace() -> tuple[tuple[type, ...], tuple[Callable, ...]]:
    """timm's registry of modules and functions that must stay opaque for fx (empty without timm)."""
    if "timm" not in sys.modules:  # no timm model can exist then; importing timm would cost a second
        return (), ()
    try:
        from timm.layers import get_notrace_functions, get_notrace_modules
    except ImportError:
        return (), ()
    return tuple(get_notrace_modules()), tuple(get_notrace_functions())


class _CutTracer(fx.Tracer):
    """An fx tracer that keeps ``layer`` (and timm's no-trace modules) as single ``call_module`` nodes."""

    def __init__(self, layer: nn.Module) -> None:
        leaf_types, functions = _timm_notrace()
        super().__init__(autowrap_functions=functions)
        self.layer = layer
        self.leaf_types = leaf_types

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if module is self.layer:
            return True
        if self.leaf_types and isinstance(module, self.leaf_types):
            return True
        return super().is_leaf_module(module, qualified_name)


def layer_name(model: nn.Module, layer: nn.Module) -> str:
    """The qualified name of ``layer`` inside ``model``; SplitError if it is absent or has two names."""
    names = [name for name, module in model.named_modules(remove_duplicate=False) if module is layer]
    if not names:
        raise SplitError(f"the target layer ({type(layer).__name__}) is not a sub-module of the model")
    if len(names) > 1:
        raise SplitError(f"the target layer is registered under several names ({', '.join(names)}); cannot cut there")
    if names[0] == "":
        raise SplitError("the target layer is the whole model; pick a layer inside it")
    return names[0]


@dataclass
class SplitModel:
    """A model cut at one layer: ``tail(*head(x)) == model(x)`` (same operations, same order).

    ``head(x)`` returns a tuple whose first item is the target layer's output and whose other items are the
    boundary values the tail also needs; ``tail(layer_output, *extras)`` returns the model's output.
    The two graph modules share the model's parameters (no copy), so they follow its device and weights.
    """

    head: fx.GraphModule
    tail: fx.GraphModule
    layer_name: str
    extra_names: tuple[str, ...]
    """Names of the boundary values other than the layer output (empty for a purely sequential cut)."""

    def run_head(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the model up to the layer: (layer output, checked boundary tensors)."""
        out = self.head(x)
        layer_out, extras = out[0], list(out[1:])
        if not isinstance(layer_out, torch.Tensor):
            raise SplitError(f"layer {self.layer_name} returns {type(layer_out).__name__}, not a tensor")
        batch = x.shape[0]
        for name, value in zip(self.extra_names, extras):
            # The tail is re-run on batches of a different size; only per-sample tensors can follow it.
            if not isinstance(value, torch.Tensor) or value.ndim == 0 or value.shape[0] != batch:
                raise SplitError(
                    f"cannot cut at {self.layer_name}: the layers after it also use {name!r} "
                    f"({type(value).__name__}), which is not a per-sample tensor; choose a later layer"
                )
        return layer_out, extras

    def run_tail(self, layer_out: torch.Tensor, extras: list[torch.Tensor]) -> Any:
        """Run the rest of the model on ``layer_out`` (and the boundary tensors, same batch size)."""
        return self.tail(layer_out, *extras)

    def tail_for_sample(self, layer_out: torch.Tensor, extras: list[torch.Tensor], index: int) -> Any:
        """Run the tail on a batch of variants of sample ``index``: its boundary tensors are repeated."""
        count = layer_out.shape[0]
        # repeat (a copy), not expand (a view): the tail may contain in-place ops on these tensors.
        repeated = [e[index : index + 1].repeat(count, *([1] * (e.ndim - 1))) for e in extras]
        return self.tail(layer_out, *repeated)


def split_model(model: nn.Module, layer: nn.Module) -> SplitModel:
    """Cut ``model`` after ``layer`` (see the module docstring). The model should be in eval mode:
    tracing records ``self.training``-dependent branches (dropout, batch-norm) as they are now."""
    name = layer_name(model, layer)
    tracer = _CutTracer(layer)
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError... depending on the construct
        raise SplitError(
            f"cannot cut {type(model).__name__} at {name}: torch.fx cannot trace its forward "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    nodes = list(graph.nodes)
    cut = [n for n in nodes if n.op == "call_module" and n.target == name]
    if len(cut) != 1:
        how = "never called" if not cut else f"called {len(cut)} times"
        raise SplitError(f"cannot cut at {name}: the layer is {how} in the model's forward")
    position = nodes.index(cut[0])
    before, after = nodes[: position + 1], nodes[position + 1 :]
    boundary = _boundary(before, after, cut[0])
    head = _build_head(tracer.root, before, boundary)
    tail = _build_tail(tracer.root, before, after, boundary)
    return SplitModel(head=head, tail=tail, layer_name=name, extra_names=tuple(n.name for n in boundary[1:]))


def _boundary(before: list[fx.Node], after: list[fx.Node], layer_node: fx.Node) -> list[fx.Node]:
    """Head nodes whose values the tail reads: the layer node first, then the others in graph order.

    Parameter lookups (``get_attr``) are not boundary values: the tail re-reads them itself.
    """
    in_head = set(before)
    used = {arg for node in after for arg in node.all_input_nodes if arg in in_head and arg.op != "get_attr"}
    used.discard(layer_node)
    return [layer_node] + [n for n in before if n in used]


def _build_head(root: nn.Module, before: list[fx.Node], boundary: list[fx.Node]) -> fx.GraphModule:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in before:
        env[node] = graph.node_copy(node, lambda n: env[n])
    graph.output(tuple(env[n] for n in boundary))
    graph.lint()
    return fx.GraphModule(root, graph, class_name="Head")


def _build_tail(
    root: nn.Module, before: list[fx.Node], after: list[fx.Node], boundary: list[fx.Node]
) -> fx.GraphModule:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in boundary:
        env[node] = graph.placeholder(f"cut_{node.name}")
    needed = {arg for node in after for arg in node.all_input_nodes}
    for node in before:
        if node.op == "get_attr" and node in needed:
            env[node] = graph.node_copy(node, lambda n: env[n])
    for node in after:
        env[node] = graph.node_copy(node, lambda n: env[n])
    graph.lint()
    return fx.GraphModule(root, graph, class_name="Tail")

