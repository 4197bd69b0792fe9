"""Concept sets and their CLIP text features (CLIP-Dissect, Oikarinen & Weng, ICLR 2023, Sec. 3 step 1).

A concept set is a list of words: the study's concept list, a model's class names (the fc self-check) or the
category prompts. Its text features are one artifact per CLIP model and list content.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from ..cache import ArtifactCache, Timings
from ..models import LoadedClip
from ..models.clip import load_clip
from ..store import bytes_sha256, canonical_json
from .clip_text import encode_concepts

TEXT_CODE = (encode_concepts, load_clip)
"""What computes the text features: the encoder, and the loader that builds the CLIP model it runs."""
"""The code a concept set's text features come from (part of their cache key)."""
TEXT_BATCH = 256


@dataclass(frozen=True)
class ConceptSet:
    purpose: str
    words: list[str]
    sha256: str
    feats: torch.Tensor | None
    """CLIP text features, unnormalised, one row per word (None for the labels source)."""
    p: torch.Tensor | None = None
    """The labels source's concept probabilities of the probe images (images x words), given, not from CLIP."""
    member: torch.Tensor | None = None
    """The labels source's images x words booleans: the image carries the concept (its class or an ancestor)."""
    ancestors: list[list[int]] | None = None
    """The labels source's concept index -> the indices of its WordNet ancestors among the words."""


def concept_set(cache: ArtifactCache, timings: Timings, device: torch.device, clip: LoadedClip, purpose: str,
                words: list[str]) -> ConceptSet:
    """CLIP text features of ``words`` (the bare words, as in the reference code) by ``clip`` on ``device``, cached
    by content; their compute seconds go to ``timings``."""
    sha = bytes_sha256(canonical_json(words).encode())
    key = cache.key("clip_text", code=TEXT_CODE, clip=clip.clip_id, concepts=sha)

    def compute() -> tuple[dict, dict]:
        feats = encode_concepts(clip.model, clip.tokenizer, words, device=device, batch_size=TEXT_BATCH,
                                progress=sys.stderr.isatty())
        return {"kind": "clip_text", "purpose": purpose, "count": len(words)}, {"features.npy": feats.numpy()}

    art = cache.cached(key, compute)
    timings.add(f"text features {purpose}", art.meta["seconds"], "concepts", len(words))
    return ConceptSet(purpose, words, sha, torch.from_numpy(art.array("features.npy")))
