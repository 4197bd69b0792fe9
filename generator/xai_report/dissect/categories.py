"""Zero-shot CLIP categories of the labels (animal, texture, scene...), to say what kind of concepts a model's
neurons detect. This project's addition to CLIP-Dissect (Oikarinen & Weng, ICLR 2023)."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Sequence

import torch

DEFAULT_CATEGORIES: dict[str, str] = {
    "animal": "an animal",
    "plant": "a plant",
    "food": "food",
    "person or body part": "a body part",
    "vehicle": "a vehicle",
    "building or structure": "a building or structure",
    "furniture": "furniture",
    "tool or object": "a tool or object",
    "clothing": "clothing",
    "scene or place": "a scene or place",
    "texture or pattern": "a texture or pattern",
    "colour": "a colour",
    "material": "a material",
    "shape": "a shape",
    "action": "an action",
}
"""Category name -> the prompt whose CLIP text feature stands for it (see :func:`categorise`)."""


def categorise(concept_feats: torch.Tensor, category_feats: torch.Tensor,
               category_names: Sequence[str]) -> tuple[list[str], torch.Tensor]:
    """Zero-shot category of each concept with CLIP text features.

    ``sim[c, g] = cos(text(concept c), text(prompt of category g))`` and ``category(c) = argmax_g sim``
    (ties: the first category). Encode the prompts of :data:`DEFAULT_CATEGORIES` (or your own) with the
    same CLIP model and ``encode_concepts`` as the concepts. Returns the category names (one per concept)
    and ``sim`` (concepts x categories, float32).
    """
    if category_feats.shape[0] != len(category_names):
        raise ValueError(f"{category_feats.shape[0]} category features but {len(category_names)} names")
    c = torch.nn.functional.normalize(concept_feats.float(), dim=-1)
    g = torch.nn.functional.normalize(category_feats.float(), dim=-1)
    sim = c @ g.T
    return [category_names[i] for i in sim.argmax(dim=1).tolist()], sim


def label_categories(words: list[str], word_feats: torch.Tensor, category_feats: torch.Tensor,
                     labels: Iterable[str]) -> dict[str, str]:
    """``{label: category}`` for every label in use (:func:`categorise` over :data:`DEFAULT_CATEGORIES`);
    ``words`` and ``word_feats`` are the concept list and its CLIP text features, ``category_feats`` the
    features of the category prompts."""
    used = sorted(set(labels))
    index = {w: i for i, w in enumerate(words)}
    feats = word_feats[[index[w] for w in used]] if used else word_feats[:0]
    names, _ = categorise(feats, category_feats, list(DEFAULT_CATEGORIES))
    return dict(zip(used, names))


def category_counts(rows: Iterable[Mapping], concept_category: Mapping[str, str]) -> list[tuple[str, int]]:
    """``(category, neurons whose label is in it)``, most first, ties by name; unknown labels -> ``other``."""
    counts = Counter(concept_category.get(str(r["label"]), "other") for r in rows)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
