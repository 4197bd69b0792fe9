"""Neuron activations of a classifier, captured with forward hooks: below both stages (the dissection pools them
over the probe images, the attribution stage draws the top units' maps, both probe layer shapes).

CLIP-Dissect (Oikarinen & Weng, ICLR 2023, Sec. 3 step 3) summarises each neuron by one number per image:
a convolutional channel's feature map is averaged over spatial positions (the reference code's default
``avg``; ``max`` takes the spatial maximum), a fully connected layer's outputs are used as they are (for
``fc`` these are the raw class logits), and for a token sequence (vision transformer blocks) the class
token is used, as in the reference code.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator, Literal, Mapping, Sequence

import torch
from torch import nn

from .models.layers import resolve_layer
from .models.tokens import layout_from_shape

Pool = Literal["mean", "max"]


def pool_output(output: torch.Tensor, pool: Pool, token_pool: str = "cls", prefix: int | None = None) -> torch.Tensor:
    """One value per (image, neuron) from a layer's output.

    * N x C x H x W (conv): ``mean`` -> ``mean_{h,w} out[n, c, h, w]``, ``max`` -> ``max_{h,w}``.
    * N x L x D (token sequence, batch first), by ``token_pool``: ``cls`` -> the first (class) token
      ``out[:, 0]``; ``mean`` / ``max`` -> over the patch tokens ``out[:, prefix:]`` (``prefix``: the model's
      class and other tokens before the patches; None counts one).
    * N x D (linear): unchanged.
    """
    if output.ndim == 4:
        return output.mean(dim=(2, 3)) if pool == "mean" else output.amax(dim=(2, 3))
    if output.ndim == 3:
        patches = output[:, 1 if prefix is None else prefix:]
        return output[:, 0] if token_pool == "cls" else patches.mean(dim=1) if token_pool == "mean" else patches.amax(dim=1)
    if output.ndim == 2:
        return output
    raise ValueError(f"cannot pool a layer output of shape {tuple(output.shape)}")


def _first_tensor(output: object) -> torch.Tensor:
    # Some modules return tuples (e.g. attention blocks); the activation is the first tensor.
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"layer output is {type(output).__name__}, not a tensor")
    return output


@contextmanager
def _hooks(model: nn.Module, layer_names: Sequence[str], store: dict[str, list[torch.Tensor]],
           transform) -> Iterator[None]:
    """Register one forward hook per layer appending ``transform(output)`` to ``store[name]``; always removed."""
    handles = []
    try:
        for name in layer_names:
            layer = resolve_layer(model, name)

            def hook(_module, _inputs, output, name=name):
                store[name].append(transform(_first_tensor(output).detach()).float().cpu())

            handles.append(layer.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _images_of(batch: torch.Tensor | Sequence) -> torch.Tensor:
    """Batches may be tensors or ``(images, labels, ...)`` tuples as DataLoaders give them."""
    return batch if isinstance(batch, torch.Tensor) else batch[0]


@torch.no_grad()
def collect_activations(
    model: nn.Module,
    layer_names: Sequence[str],
    batches: Iterable[torch.Tensor | Sequence],
    pool: Pool = "mean",
    device: str | torch.device = "cpu",
    token_pool: str = "cls",
    prefix: int | None = None,
) -> dict[str, torch.Tensor]:
    """Run ``model`` over ``batches`` and return ``{layer: float32 CPU tensor (images x neurons)}``.

    Args:
        model: the classifier, already on ``device``; it is put in eval mode (BatchNorm/Dropout frozen).
        layer_names: paths understood by :func:`xai_report.models.resolve_layer` (``layer4``, ``fc``...).
        batches: normalised image tensors N x 3 x H x W (or tuples whose first item is one), in the
            probing-image order; the rows of the result follow it.
        pool: ``mean`` or ``max`` over spatial positions for conv outputs (see :func:`pool_output`).
        token_pool, prefix: how token outputs are pooled (:func:`pool_output`).
    """
    if pool not in ("mean", "max"):
        raise ValueError(f"pool must be 'mean' or 'max', got {pool!r}")
    if not layer_names:
        raise ValueError("no layers to collect")
    layer_names = list(dict.fromkeys(layer_names))
    device = torch.device(device)
    store: dict[str, list[torch.Tensor]] = {name: [] for name in layer_names}
    model.eval()
    with _hooks(model, layer_names, store, lambda out: pool_output(out, pool, token_pool, prefix)):
        for batch in batches:
            model(_images_of(batch).to(device))
    if not store[layer_names[0]]:
        raise ValueError("no images were given")
    return {name: torch.cat(chunks) for name, chunks in store.items()}


@torch.no_grad()
def activation_maps(
    model: nn.Module,
    layer_name: str,
    image_tensor_batch: torch.Tensor,
    units: Sequence[int],
    size: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Spatial maps of chosen units: float32 CPU tensor (images, len(units), h, w).

    ``maps[i, j] = out[i, units[j]]``, the raw feature map of the layer (a conv output N x C x h x w).
    With ``size=(H, W)`` the maps are bilinearly upsampled to the image size, for overlays on the
    probing images; the values are not rescaled, so maps of one unit stay comparable across images.
    ``model`` must already be on ``device``.
    """
    maps = layers_maps(model, {layer_name: units}, image_tensor_batch, device)[layer_name]
    if size is not None:
        maps = torch.nn.functional.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    return maps


@torch.no_grad()
def layers_maps(model: nn.Module, units: Mapping[str, Sequence[int]], image_tensor_batch: torch.Tensor,
                device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """:func:`activation_maps` of several layers (``{layer: units}``) from one forward pass: the network runs once
    whatever the number of layers (strips of three layers cost one pass, not three)."""
    names = list(units)
    store: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    model.eval()
    with _hooks(model, names, store, lambda out: out):
        model(image_tensor_batch.to(torch.device(device)))
    found = {}
    for name in names:
        out = store[name][0]
        if out.ndim == 3:  # tokens: on the patch grid (models/tokens.py; ConfigError when they cannot be)
            out = layout_from_shape(tuple(out.shape), tuple(image_tensor_batch.shape[-2:]), where=f"layer {name!r}").reshape(out)
        if out.ndim != 4:
            raise ValueError(f"layer {name!r} output has shape {tuple(out.shape)}; spatial maps need N x C x H x W")
        found[name] = out[:, torch.as_tensor(list(units[name]), dtype=torch.long)]
    return found


def output_shapes(module: nn.Module, layers: Sequence[str], x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """The output shape of each named layer of ``module`` on input ``x`` (one forward pass, no autograd).

    Layers whose output is not a tensor are left out. The hooks return None, so the outputs are unchanged.
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def record(layer: str):
        def hook(_module, _inputs, out) -> None:
            if isinstance(out, torch.Tensor):
                shapes.setdefault(layer, tuple(out.shape))
        return hook

    handles = [resolve_layer(module, layer).register_forward_hook(record(layer)) for layer in layers]
    try:
        with torch.inference_mode():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return shapes
