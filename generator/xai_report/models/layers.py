"""Sub-modules by path: ``layer4[-1]``, ``blocks.6``, ``fc``."""

from __future__ import annotations

import re

from torch import nn

from ..errors import ConfigError

_LAYER_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\d+)|\[(-?\d+)\]")


def resolve_layer(module: nn.Module, path: str) -> nn.Module:
    """Find a sub-module from a path such as ``layer4[-1]``, ``blocks.6`` or ``fc``.

    In a model wrapped to return its logits (:class:`~.outputs.LogitsOutput`, e.g. a Hugging Face model) paths
    are the wrapped model's own (``vit.layers[-1].layernorm_before``); ``model.`` before them works too."""
    if getattr(module, "names_inside", False) and not re.match(r"model(\.|\[|$)", path):
        module = module.model
    current = module
    for part in path.split("."):
        tokens = list(_LAYER_TOKEN.finditer(part))
        if not tokens or "".join(t.group(0) for t in tokens) != part:
            raise ConfigError(f"layer {path!r}: cannot parse {part!r}; write e.g. layer4[-1] or blocks.6")
        for tok in tokens:
            name, index = tok.group(1), tok.group(2)
            try:
                if name is not None:
                    if name not in dict(current.named_children()):
                        raise KeyError(name)
                    current = getattr(current, name)
                else:
                    current = current[int(index)]
            except (KeyError, IndexError, TypeError):
                children = ", ".join(n for n, _ in current.named_children()) or "none"
                raise ConfigError(f"unknown layer {path!r}: no {tok.group(0)!r} here; children: {children}"
                                  f"{_closest(module, path)}") from None
    return current


def _closest(module: nn.Module, path: str) -> str:
    """"; closest layers: ..." from the model's layer names (``blocks.11.norm1`` written ``blocks[11].norm1``)."""
    import difflib

    names = [re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", name) for name, _ in module.named_modules() if name]
    found = difflib.get_close_matches(path, names, n=5, cutoff=0.6)
    return f"; closest layers: {', '.join(found)}" if found else ""
