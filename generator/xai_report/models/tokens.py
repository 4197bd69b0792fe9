"""Token layers on a grid: the reshape that lets CAMs, the random baseline and dissection treat a vision
transformer's layer like a convolutional feature map.

A ViT or DeiT layer outputs tokens ``(N, prefix + h*w, C)``: class (and distillation or register) tokens, then
one token per patch in row-major order. grad-cam's documented ``reshape_transform`` drops the prefix, reshapes
to ``(N, h, w, C)`` and moves the channels first. timm's Swin outputs ``(N, H, W, C)`` (channels last): only
the move is needed. :func:`layout_of` finds which case a layer is in from one dry forward pass, checks that
``h * w == tokens - prefix`` and that the grid has the input's aspect ratio, and answers in one line when the
output cannot be put on a grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from .layers import resolve_layer

MAX_PREFIX = 16
"""Most prefix tokens tried when the model does not declare how many it has (class, distillation, registers)."""


@dataclass(frozen=True)
class TokenLayout:
    """How one layer's output lies: ``kind`` is "conv" (N, C, H, W), "tokens" (N, prefix + h*w, C) or
    "channels_last" (N, H, W, C); ``grid`` is (h, w); ``prefix`` the tokens before the patches."""

    kind: str
    grid: tuple[int, int]
    channels: int
    prefix: int = 0

    @property
    def is_token(self) -> bool:
        return self.kind != "conv"

    def describe(self) -> str:
        """One phrase for the pages, e.g. "tokens (1 prefix + 14x14 patches, 192 channels)"."""
        h, w = self.grid
        if self.kind == "tokens":
            return f"tokens ({self.prefix} prefix + {h}x{w} patches, {self.channels} channels)"
        if self.kind == "channels_last":
            return f"channels-last map ({h}x{w}, {self.channels} channels)"
        return f"feature map ({self.channels} channels, {h}x{w})"

    def reshape(self, tensor: torch.Tensor) -> torch.Tensor:
        """The layer's output (or its gradient) as (N, C, h, w): grad-cam's ``vit_reshape_transform`` for
        tokens, a permutation for channels-last outputs, the tensor itself for conv maps."""
        if self.kind == "tokens":
            h, w = self.grid
            result = tensor[:, self.prefix:, :].reshape(tensor.size(0), h, w, tensor.size(2))
            return result.transpose(2, 3).transpose(1, 2)
        if self.kind == "channels_last":
            return tensor.transpose(2, 3).transpose(1, 2)
        return tensor

    def reshape_transform(self):
        """What grad-cam's ``reshape_transform`` argument takes: None for conv maps, else :meth:`reshape`."""
        return None if self.kind == "conv" else self.reshape


def _token_grid(tokens: int, input_hw: tuple[int, int], prefix: int | None) -> tuple[int, tuple[int, int]] | None:
    """(prefix, (h, w)) with ``h * w == tokens - prefix`` and ``h / w`` the input's aspect ratio, or None."""
    H, W = input_hw
    for p in ([prefix] if prefix is not None else range(0, min(MAX_PREFIX, tokens - 1) + 1)):
        patches = tokens - p
        if patches < 1:
            continue
        h = round(math.sqrt(patches * H / W))
        if h >= 1 and patches % h == 0 and (patches // h) * H == h * W:
            return p, (h, patches // h)
    return None


def layout_from_shape(shape: tuple[int, ...], input_hw: tuple[int, int], prefix: int | None = None,
                      channels_last: bool = False, where: str = "layer") -> TokenLayout:
    """The layout of an output of ``shape`` for an input of ``input_hw`` (see the module docstring).

    Args:
        shape: the layer's output shape, batch first.
        input_hw: the model's input height and width.
        prefix: the model's declared prefix tokens (timm ``num_prefix_tokens``), or None to infer them.
        channels_last: the model's 4-D outputs are (N, H, W, C) (timm ``output_fmt = "NHWC"``).
        where: names the layer in the one-line error.

    Returns:
        A :class:`TokenLayout`; ConfigError when the output cannot be put on a grid.
    """
    if len(shape) == 4:
        if channels_last:
            return TokenLayout("channels_last", (shape[1], shape[2]), shape[3])
        return TokenLayout("conv", (shape[2], shape[3]), shape[1])
    if len(shape) == 3:
        found = _token_grid(shape[1], input_hw, prefix)
        if found is not None:
            return TokenLayout("tokens", found[1], shape[2], found[0])
        declared = f"{prefix} prefix tokens" if prefix is not None else f"0-{MAX_PREFIX} prefix tokens"
        raise ConfigError(f"{where}: its output {tuple(shape)} cannot be put on a grid ({shape[1]} tokens minus "
                          f"{declared} is no h x w grid of the {input_hw[0]}x{input_hw[1]} input); pick a block's "
                          "output or norm, e.g. blocks[-1].norm1")
    raise ConfigError(f"{where}: its output {tuple(shape)} is not a map or a sequence of tokens, so it cannot be "
                      "put on a grid; pick a convolutional stage or a transformer block's norm")


def on_grid(shape: tuple[int, ...], input_hw: tuple[int, int]) -> bool:
    """Whether a 3-D output of ``shape`` is tokens that can be put on a grid (prefix inferred)."""
    return len(shape) == 3 and _token_grid(shape[1], input_hw, None) is not None


def layer_layout(module: nn.Module, layer: str, x: torch.Tensor, prefix: int | None = None,
                 channels_last: bool = False) -> TokenLayout:
    """The layout of ``layer``'s output on ``x`` (one dry forward pass, no autograd)."""
    shapes: list[tuple[int, ...]] = []
    handle = resolve_layer(module, layer).register_forward_hook(
        lambda _m, _i, out: shapes.append(tuple(out.shape)) if isinstance(out, torch.Tensor) and not shapes else None)
    try:
        with torch.inference_mode():
            module(x)
    finally:
        handle.remove()
    if not shapes:
        raise ConfigError(f"layer {layer!r}: gives no tensor output in a forward pass; pick another layer")
    return layout_from_shape(shapes[0], tuple(x.shape[-2:]), prefix, channels_last, f"layer {layer!r}")
