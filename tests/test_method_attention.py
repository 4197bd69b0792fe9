"""Attention rollout and gradient-weighted attention on a timm ViT and a Hugging Face ViT (random weights, small
inputs), against references written plainly in this test from the papers' equations: the timm ViT's attention
recomputed by hand from its weights, the Hugging Face ViT's from its own ``output_attentions``."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from torch import nn
from torch.nn import functional as F

from xai_report.attribution.methods.explainer import Settings
from xai_report.attribution.methods.registry import METHODS
from xai_report.data import PreparedImage
from xai_report.errors import ConfigError
from xai_report.models.outputs import LogitsOutput
from xai_report.models.preprocess import Preprocess
from xai_report.models.tokens import TokenLayout

PRE = Preprocess(resize=32, crop=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def explainer(method: str, layout: TokenLayout):
    return METHODS[method].make(Settings(1, nn.Identity(), PRE, torch.device("cpu"), 0, {}, layout))


def reference_rollout(weights: list[np.ndarray]) -> np.ndarray:
    """Abnar & Zuidema: prod over blocks (last first) of normalised 0.5 mean_h A + 0.5 I."""
    flow = np.eye(weights[0].shape[-1])
    for a in weights:
        mixed = 0.5 * a.mean(axis=0) + 0.5 * np.eye(a.shape[-1])
        flow = (mixed / mixed.sum(axis=1, keepdims=True)) @ flow
    return flow


def reference_chefer(weights: list[np.ndarray], grads: list[np.ndarray]) -> np.ndarray:
    """Chefer et al. ICCV 2021, Eq. 5-6: R = I; R += mean_h((grad * A)^+) @ R, block by block."""
    r = np.eye(weights[0].shape[-1])
    for a, g in zip(weights, grads):
        r = r + np.maximum(g * a, 0).mean(axis=0) @ r
    return r


def on_grid(r: np.ndarray, prefix: int, grid: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    row = torch.from_numpy(r[0, prefix:].astype(np.float32)).reshape(1, 1, *grid)
    return F.interpolate(row, size=hw, mode="bilinear", align_corners=False)[0, 0].numpy()


def timm_reference(model, x: torch.Tensor, target: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every block's attention of a timm ViT recomputed by hand (softmax(q k^T · scale)) and the target logit's
    gradient with respect to it (the whole gradient: through the later blocks' attention too, as the model's)."""
    tokens = model.norm_pre(model._pos_embed(model.patch_embed(x)))
    leaves = []
    for block in model.blocks:
        attn, h = block.attn, block.norm1(tokens)
        b, n, c = h.shape
        q, k, v = attn.qkv(h).reshape(b, n, 3, attn.num_heads, c // attn.num_heads).permute(2, 0, 3, 1, 4)
        a = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(-1)
        leaves.append(a)
        tokens = tokens + block.ls1(attn.proj((a @ v).transpose(1, 2).reshape(b, n, c)))
        tokens = tokens + block.ls2(block.mlp(block.norm2(tokens)))
    logit = model.forward_head(model.norm(tokens))[0, target]
    grads = torch.autograd.grad(logit, leaves)
    return [a[0].detach().double().numpy() for a in leaves], [g[0].double().numpy() for g in grads]


def image(size: int) -> PreparedImage:
    g = torch.Generator().manual_seed(0)
    return PreparedImage(np.zeros((size, size, 3), np.float32), torch.randn(1, 3, size, size, generator=g))


def test_attention_methods_equal_the_reference_on_a_timm_vit():
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, depth=4, num_classes=5).eval()
    img, layout = image(32), TokenLayout("tokens", (2, 2), 192, 1)
    weights, grads = timm_reference(model, img.tensor, 3)
    with torch.no_grad():  # the hand-made pass is the model's: its attention gives the model's blocks' outputs
        h = model.norm_pre(model._pos_embed(model.patch_embed(img.tensor)))
        b = model.blocks[0]
        v = b.attn.qkv(b.norm1(h)).reshape(1, 5, 3, 3, 64).permute(2, 0, 3, 1, 4)[2]
        by_hand = h + b.ls1(b.attn.proj((torch.from_numpy(weights[0]).float()[None] @ v).transpose(1, 2).reshape(1, 5, 192)))
        assert torch.allclose(by_hand, h + b.ls1(b.attn(b.norm1(h))), atol=1e-5)
    for method, reference in (("rollout", reference_rollout(weights)), ("attentiongrad", reference_chefer(weights, grads))):
        ours = explainer(method, layout).explain(model, img, 3).map
        expected = on_grid(reference, 1, (2, 2), (32, 32))
        assert ours.shape == (32, 32) and np.abs(ours - expected).max() <= 1e-5, method
    assert model.blocks[0].attn.fused_attn == timm.layers.use_fused_attn()  # the study's model is untouched


def test_attention_methods_equal_the_reference_on_a_hugging_face_vit():
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=37,
                       image_size=32, patch_size=8, num_labels=5, attn_implementation="eager")
    hf = ViTForImageClassification(config).eval()
    img, layout = image(32), TokenLayout("tokens", (4, 4), 32, 1)
    out = hf(img.tensor, output_attentions=True)  # the library's own attention weights
    grads = torch.autograd.grad(out.logits[0, 2], out.attentions)
    weights = [a[0].detach().double().numpy() for a in out.attentions]
    grads = [g[0].double().numpy() for g in grads]
    model = LogitsOutput(hf)
    for method, reference in (("rollout", reference_rollout(weights)), ("attentiongrad", reference_chefer(weights, grads))):
        ours = explainer(method, layout).explain(model, img, 2).map
        assert np.abs(ours - on_grid(reference, 1, (4, 4), (32, 32))).max() <= 1e-5, method


@pytest.mark.parametrize("method", ["rollout", "attentiongrad"])
def test_attention_methods_refuse_a_cnn_in_one_line(method):
    with pytest.raises(ConfigError) as err:
        explainer(method, TokenLayout("conv", (7, 7), 320))
    message = str(err.value)
    assert f"{method} explains transformers" in message and "convolutional feature map" in message and "\n" not in message
