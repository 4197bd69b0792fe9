"""CLIP features of concept words (with a truncated token context) and of probing images.

CLIP-Dissect (Oikarinen & Weng, ICLR 2023, Sec. 3 step 1) encodes every concept of the concept set with
CLIP's text encoder; the reference code feeds the bare word, without a prompt template, and so do we.

Why truncation is exact: an open_clip text tower is causal (token ``t`` attends only to tokens ``<= t``)
and the pooled feature is read at the end-of-text (EOT) token. Every token after the last EOT of a batch
is padding that no pooled token can see, so running the tower on ``tokens[:, :L]`` with
``positional_embedding[:L]`` and ``attn_mask[:L, :L]``, ``L = 1 + max EOT position``, gives the same
features as the full 77-token context, only faster (concept words are 3-6 tokens long). Concepts are
sorted by token length so each batch is cut to its own ``L``. Towers where this does not hold (no causal
mask, a class token, a padding mask, first/last pooling, Hugging Face towers) are run on the full context.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
from PIL import Image
from torch import nn

from ..data import load_rgb

TRUNCATION_CHECK_CONCEPTS = 8
"""How many concepts are also encoded on the full context to check, at run time, that truncation is exact."""
TRUNCATION_MIN_COSINE = 0.9999
LIBRARIES = ("open_clip_torch", "timm")
"""The libraries CLIP features come from (open_clip, and timm for its timm vision towers): part of their cache keys."""


@dataclass(frozen=True)
class _CausalTextTower:
    """The parts of an open_clip text tower needed to re-run ``encode_text`` on a shorter context."""

    token_embedding: nn.Embedding
    positional_embedding: torch.Tensor
    transformer: nn.Module
    attn_mask: torch.Tensor
    ln_final: nn.Module
    text_projection: nn.Module | torch.Tensor | None
    pool_type: str
    eos_id: int | None


def causal_text_tower(clip_model: nn.Module) -> _CausalTextTower | None:
    """The model's text tower if truncating its context is exact (see module docstring), else ``None``.

    Handles ``open_clip.CLIP`` (text parts are attributes of the model) and ``open_clip.CustomTextCLIP``
    with a built-in ``TextTransformer`` (``model.text``).
    """
    text = getattr(clip_model, "text", None)
    if text is not None and hasattr(text, "token_embedding"):
        if getattr(text, "cls_emb", None) is not None or getattr(text, "use_pad_mask", False):
            return None
        src, pool, eos = text, getattr(text, "pool_type", None), getattr(text, "eos_id", None)
    elif hasattr(clip_model, "token_embedding") and hasattr(clip_model, "transformer"):
        src, pool, eos = clip_model, getattr(clip_model, "text_pool_type", None), getattr(clip_model, "text_eos_id", None)
    else:
        return None
    needed = ("positional_embedding", "attn_mask", "ln_final", "text_projection")
    if any(not hasattr(src, name) for name in needed) or src.attn_mask is None or src.positional_embedding is None:
        return None
    if pool not in ("argmax", "eos") or (pool == "eos" and eos is None):
        return None
    return _CausalTextTower(
        token_embedding=src.token_embedding,
        positional_embedding=src.positional_embedding,
        transformer=src.transformer,
        attn_mask=src.attn_mask,
        ln_final=src.ln_final,
        text_projection=src.text_projection,
        pool_type=pool,
        eos_id=eos,
    )


def pooled_positions(tokens: torch.Tensor, tower: _CausalTextTower) -> torch.Tensor:
    """Index of the token each row's feature is read from, by the tower's own pooling rule.

    ``argmax``: the highest token id (CLIP's EOT is the largest id); ``eos``: the first ``eos_id``.
    """
    if tower.pool_type == "argmax":
        return tokens.argmax(dim=-1)
    return (tokens == tower.eos_id).int().argmax(dim=-1)


def encode_tokens_truncated(tower: _CausalTextTower, tokens: torch.Tensor) -> torch.Tensor:
    """open_clip's ``encode_text`` on ``tokens[:, :L]``, ``L`` = 1 + the last pooled position of the batch.

    Same steps as ``CLIP.encode_text`` / ``TextTransformer.forward`` in open_clip 3.x: token embedding,
    plus positional embedding, causal transformer, final LayerNorm, pooling, projection; only the
    positional embedding and the causal mask are sliced to ``L``. Returns unnormalised features.
    """
    length = int(pooled_positions(tokens, tower).max()) + 1
    tokens = tokens[:, :length]
    cast = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens).to(cast)
    x = x + tower.positional_embedding[:length].to(cast)
    x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
    x = tower.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), pooled_positions(tokens, tower)]
    if isinstance(tower.text_projection, nn.Linear):
        x = tower.text_projection(x)
    elif tower.text_projection is not None:
        x = x @ tower.text_projection
    return x


def _check_truncation(clip_model: nn.Module, tower: _CausalTextTower, tokens: torch.Tensor) -> bool:
    """Whether truncated and full-context features of a few concepts agree (cosine >= 0.9999)."""
    sample = tokens[:TRUNCATION_CHECK_CONCEPTS]
    short = encode_tokens_truncated(tower, sample).float()
    full = clip_model.encode_text(sample).float()
    cos = torch.nn.functional.cosine_similarity(short, full, dim=-1)
    return bool((cos >= TRUNCATION_MIN_COSINE).all())


@torch.no_grad()
def encode_concepts(
    clip_model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    concepts: Sequence[str],
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    truncate: bool = True,
    progress: bool = False,
    normalize: bool = False,
) -> torch.Tensor:
    """CLIP text features of ``concepts`` (the bare words, as in the reference code), in input order.

    Args:
        clip_model: an open_clip model (``CLIP`` or ``CustomTextCLIP``), already on ``device``, in eval mode.
        tokenizer: ``open_clip.get_tokenizer(name)``: a list of strings -> LongTensor (n, context_length).
        concepts: the concept words; blank entries are refused (read lists with ``data.read_concepts``).
        truncate: run each batch on the shortest context that contains its EOT tokens (exact, see module
            docstring); verified at run time on a few concepts, falling back to the full context (with a
            warning) if the check fails or the tower does not allow it.
        normalize: L2-normalise the rows. Default: unnormalised, like ``encode_text``.

    Returns:
        float32 CPU tensor (n_concepts, embed_dim).
    """
    if not concepts:
        raise ValueError("no concepts to encode")
    blank = [i for i, c in enumerate(concepts) if not c.strip()]
    if blank:
        raise ValueError(f"blank concept at position(s) {blank[:5]}; read concept lists with data.read_concepts")
    device = torch.device(device)
    tokens = tokenizer(list(concepts))
    tower = causal_text_tower(clip_model) if truncate else None
    if truncate and tower is None:
        warnings.warn("this CLIP text tower cannot be truncated exactly; encoding on the full context")
    if tower is not None:
        # Longest-last ordering: each batch is cut to the longest concept it holds.
        order = torch.argsort(pooled_positions(tokens, tower), stable=True)
        if not _check_truncation(clip_model, tower, tokens[order[-TRUNCATION_CHECK_CONCEPTS:]].to(device)):
            warnings.warn("truncated text features differ from the full context here; using the full context")
            tower = None
    if tower is None:
        order = torch.arange(len(tokens))

    outs = []
    for start in _progress(range(0, len(tokens), batch_size), progress, "concepts"):
        batch = tokens[order[start:start + batch_size]].to(device)
        out = encode_tokens_truncated(tower, batch) if tower is not None else clip_model.encode_text(batch)
        outs.append(out.float().cpu())
    feats = torch.empty(len(tokens), outs[0].shape[-1])
    feats[order] = torch.cat(outs)  # back to input order
    return torch.nn.functional.normalize(feats, dim=-1) if normalize else feats


def _progress(it: Iterable, enabled: bool, desc: str) -> Iterable:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc)


@torch.no_grad()
def encode_images(
    clip_model: nn.Module,
    preprocess: Callable[[Image.Image], torch.Tensor],
    pil_images_or_paths: Sequence[Image.Image | str | Path],
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    normalize: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """CLIP image features of the probing images, in input order.

    Args:
        preprocess: the CLIP model's own eval transform (``open_clip.create_model_and_transforms``' third
            value): PIL image -> 3xHxW tensor.
        pil_images_or_paths: PIL images or image paths (paths are opened with ``data.load_rgb``, which
            converts to RGB and refuses unusable files with ``BadInput``).

    Returns:
        float32 CPU tensor (n_images, embed_dim); unnormalised unless ``normalize``.
    """
    if not pil_images_or_paths:
        raise ValueError("no images to encode")
    device = torch.device(device)
    chunks = []
    for start in _progress(range(0, len(pil_images_or_paths), batch_size), progress, "images"):
        items = pil_images_or_paths[start:start + batch_size]
        pixels = torch.stack([preprocess(_as_image(item)) for item in items])
        chunks.append(clip_model.encode_image(pixels.to(device)).float().cpu())
    feats = torch.cat(chunks)
    return torch.nn.functional.normalize(feats, dim=-1) if normalize else feats


def _as_image(item: Image.Image | str | Path) -> Image.Image:
    if isinstance(item, Image.Image):
        return item if item.mode == "RGB" else item.convert("RGB")
    return load_rgb(Path(item))
