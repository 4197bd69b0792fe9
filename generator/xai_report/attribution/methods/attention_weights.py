"""The attention weights of every block of a vision transformer, and what the attention methods share.

Library or ours: torchcam 0.5's ``LeGrad`` (Bousselham et al., 2024) and lxt 2.1's AttnLRP (Achtibat et al., ICML
2024) are maintained and work on timm ViTs, but each implements its own method, neither attention rollout nor
Chefer et al.'s gradient-weighted rule; so the two methods here are ours, a few lines each on the weights below,
and the tests check them against a reference written plainly from the papers' equations.

How the weights are had, on a copy of the model (the study's model is untouched):

* timm (``VisionTransformer``, DeiT, ...): its ``Attention`` modules compute ``softmax(q k^T / sqrt(d))`` with
  ``F.scaled_dot_product_attention`` when ``fused_attn`` is set, which never materialises the weights. The copy
  has ``fused_attn = False`` on every such module, so it takes the explicit path, and a forward hook on each
  ``attn_drop`` (identity in eval) keeps its input: the softmaxed weights, in the autograd graph.
* Hugging Face (``ViTForImageClassification``, DeiT, ...): the copy runs with ``attn_implementation = "eager"``, and
  a forward hook on each attention module keeps the weights it returns beside its output (transformers 5).

Each block's weights are ``(batch, heads, tokens, tokens)``, in block order; the maps are the class token's row over
the patch tokens (the prefix tokens dropped, :class:`~xai_report.models.tokens.TokenLayout`), on the patch grid,
upsampled bilinearly to the input resolution.
"""

from __future__ import annotations

import copy
from abc import abstractmethod

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...data import PreparedImage
from ...errors import ConfigError
from ...models.tokens import TokenLayout
from .explainer import Explainer, Explanation, Settings


def _hooked_copy(model: nn.Module, kept: list[torch.Tensor]) -> nn.Module:
    """A copy of ``model`` whose forward appends each block's attention weights to ``kept``."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = "eager"
    for module in twin.modules():
        if hasattr(module, "fused_attn") and hasattr(module, "attn_drop"):  # timm
            module.fused_attn = False
            module.attn_drop.register_forward_hook(lambda _m, inputs, _out: kept.append(inputs[0]) and None)
        elif type(module).__name__.endswith("Attention") and hasattr(module, "q_proj"):  # Hugging Face
            module.register_forward_hook(lambda _m, _in, out: kept.append(out[1]) and None
                                         if isinstance(out, tuple) and len(out) > 1 and out[1] is not None else None)
    return twin


def attention_weights(model: nn.Module, x: torch.Tensor, target: int | None = None
                      ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Each block's attention weights for ``x`` (float32, batch x heads x tokens x tokens, block order) and, with
    ``target``, the gradient of its logit with respect to each of them. ConfigError when the model has none."""
    kept: list[torch.Tensor] = []
    twin = _hooked_copy(model, kept)
    with torch.set_grad_enabled(target is not None):
        logits = twin(x)
    if not kept:
        raise ConfigError(f"attribution.methods: the attention methods need a transformer's attention weights; "
                          f"{type(model).__name__} has no timm or Hugging Face attention module")
    if target is None:
        return [a.detach().float() for a in kept], None
    grads = torch.autograd.grad(logits[:, int(target)].sum(), kept)
    return [a.detach().float() for a in kept], [g.detach().float() for g in grads]


def class_token_map(relevance: torch.Tensor, layout: TokenLayout, hw: tuple[int, int]) -> np.ndarray:
    """Row 0 (the class token) of a tokens x tokens matrix over the patch tokens, on the patch grid, upsampled
    bilinearly to ``hw``: float32 HxW."""
    h, w = layout.grid
    row = relevance[0, layout.prefix:]
    if row.numel() != h * w:
        raise ConfigError(f"attribution.methods: the attention has {relevance.shape[-1]} tokens, not {layout.prefix} "
                          f"prefix + {h}x{w} patches as attribution.layer's output; pick a block's layer")
    grid = row.reshape(1, 1, h, w)
    return F.interpolate(grid, size=hw, mode="bilinear", align_corners=False)[0, 0].numpy().astype(np.float32)


class AttentionExplainer(Explainer):
    """What both attention methods share: token models only (checked when the study is bound), the weights, the
    class token's row on the grid. Subclasses give :meth:`relevance` (tokens x tokens) and ``gradients``."""

    gradients = False
    """Whether :meth:`relevance` needs the gradient of the target's logit."""
    name = ""

    def __init__(self, settings: Settings, _params) -> None:
        layout = settings.layout
        if layout is None or layout.kind != "tokens" or layout.prefix < 1:
            where = "a convolutional feature map" if layout is None or layout.kind == "conv" else layout.describe()
            raise ConfigError(f"attribution.methods: {self.name} explains transformers with a class token (ViT, "
                              f"DeiT) only; the study's model gives {where} at attribution.layer; remove {self.name}")
        self.layout = layout
        self.device = settings.device

    @abstractmethod
    def relevance(self, weights: list[torch.Tensor], grads: list[torch.Tensor] | None) -> torch.Tensor:
        """tokens x tokens, from every block's weights (and gradients), first image of the batch."""

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        x = image.tensor.to(self.device)
        weights, grads = attention_weights(model, x, target if self.gradients else None)
        found = self.relevance(weights, grads).cpu()
        return Explanation(map=class_token_map(found, self.layout, (int(x.shape[-2]), int(x.shape[-1]))))

    @property
    def runs(self):
        return (type(self), attention_weights, class_token_map)
