"""Per-image features of the probe set: each image's CLIP image feature and, per model, the pooled
activations of every collected layer (CLIP-Dissect, Oikarinen & Weng, ICLR 2023, Sec. 3 steps 1 and 3).

One artifact per image (and model), so a changed image recomputes only its own. Images go through the
networks in fixed blocks of ``dissection.batch_size`` consecutive probe images, and a block with any missing
artifact is computed whole (only the missing artifacts are stored): an image's features then come from the
same batch whatever was cached before, so a build killed and resumed gives the same bits as a clean one
(a convolution's float rounding can depend on the batch it runs in). Only blocks with a missing artifact are
decoded; an unreadable image never gets an artifact and is skipped, with its reason, on every build.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from ..activations import collect_activations
from ..cache import ArtifactCache, Timings
from ..data import prepare
from ..models import LoadedClip, LoadedModel
from ..models.clip import load_clip
from ..progress import Progress
from .clip_text import encode_images
from .probe import ProbeImage, chunks, decode

CLIP_IMAGE_CODE = (encode_images, load_clip, prepare, __name__)
"""What computes a CLIP image feature: the encoder, the CLIP loader, image preparation and the batching here."""
ACTIVATIONS_CODE = (collect_activations, prepare, __name__)
"""What computes a probe image's pooled activations (the model itself is identified by its weights id)."""

Decoded = list[tuple[ProbeImage, Image.Image]]
BlockDone = tuple[Sequence[ProbeImage], set[str], list[dict]]
"""A computed block: its images, the hashes of those that could not be read, and their skip records."""
Spread = Callable[[list[Sequence[ProbeImage]]], Iterator[BlockDone]]
"""Computes blocks elsewhere and yields each as done, in the order given."""


class ProbeFeatures:
    """The cached per-image artifacts of a CLIP model and classifiers over a probe set.

    ``collect[key]`` are the layers collected from model ``key``; ``model_ids[key]`` what identifies the
    model in a cache key (its weights and preprocessing). ``clip`` is None with the labels concept source:
    then no CLIP feature is computed. ``pool`` and ``batch_size`` are the study's ``dissection`` values; the
    models are on ``device``; compute seconds go to ``timings``.
    """

    def __init__(self, cache: ArtifactCache, timings: Timings, device: torch.device, clip: LoadedClip | None,
                 models: dict[str, LoadedModel], collect: dict[str, list[str]], model_ids: dict[str, dict], *,
                 pool: str, batch_size: int, token_pool: str = "cls", pool_id: str | None = None):
        """``pool``: how a layer's maps are pooled; ``token_pool``: which token of a token layer (cls, mean, max);
        ``pool_id``: both as they enter the cache keys (``DissectionConfig.pool_id``; ``pool`` by default)."""
        self.cache = cache
        self.timings = timings
        self.device = device
        self.clip = clip
        self.models = models
        self.collect = collect
        self.model_ids = model_ids
        self.pool = pool
        self.token_pool = token_pool
        self.pool_id = pool_id or pool
        self.batch_size = batch_size

    def clip_key(self, sha: str) -> str:
        return self.cache.key("clip_image", code=CLIP_IMAGE_CODE, clip=self.clip.clip_id,
                              image=sha)

    def acts_key(self, key: str, sha: str) -> str:
        return self.cache.key("dissect_activations", code=ACTIVATIONS_CODE,
                              model=self.model_ids[key], layers=self.collect[key], pool=self.pool_id, image=sha)

    def _stored(self, key: str) -> bool:
        return self.cache.stored(key)  # a look, not a use: not counted as reused

    def _missing(self, img: ProbeImage) -> bool:
        keys = [self.clip_key(img.sha256)] if self.clip is not None else []
        keys += [self.acts_key(key, img.sha256) for key in self.models]
        return not all(self._stored(k) for k in keys)

    def missing_blocks(self, probe: list[ProbeImage]) -> list[Sequence[ProbeImage]]:
        """The fixed blocks of ``probe`` (``batch_size`` consecutive images) that miss an artifact."""
        return [block for block in chunks(probe, self.batch_size) if any(self._missing(img) for img in block)]

    def ensure(self, probe: list[ProbeImage], skipped: list[dict], spread: Spread | None = None) -> list[ProbeImage]:
        """Compute the blocks of the probe set that miss an artifact, here or, with ``spread``, where it sends them
        (:func:`.remote.spread_blocks`); returns the readable probe images. Skips go to ``skipped`` in block order."""
        todo = self.missing_blocks(probe)
        unreadable: set[str] = set()
        progress = Progress("dissection: probe features", len(todo))
        for batch, lost, skips in (spread or self._here)(todo):
            unreadable |= lost
            skipped += skips
            progress.step()
            progress.done(f"probe images {probe.index(batch[0]) + 1}-{probe.index(batch[-1]) + 1}")
        progress.close()
        return [img for img in probe if img.sha256 not in unreadable]

    def _here(self, todo: list[Sequence[ProbeImage]]) -> Iterator[BlockDone]:
        for batch in todo:
            skips: list[dict] = []
            yield batch, self.compute_block(batch, skips), skips

    def compute_block(self, batch: Sequence[ProbeImage], skipped: list[dict]) -> set[str]:
        """Every model's features of one block, computed whole and stored where missing; the unreadable images go
        to ``skipped`` and their hashes are returned."""
        decoded = decode(batch, skipped)
        if decoded:
            if self.clip is not None:
                self._clip_images(decoded)
            for key in self.models:
                self._activations(key, decoded)
        readable = {img.sha256 for img, _ in decoded}
        return {img.sha256 for img in batch if img.sha256 not in readable}

    def _clip_images(self, decoded: Decoded) -> None:
        """CLIP features of the whole block (the same batch as in a clean build); stores the missing ones."""
        if all(self._stored(self.clip_key(img.sha256)) for img, _ in decoded):
            return
        start = time.perf_counter()
        feats = encode_images(self.clip.model, self.clip.preprocess, [pil for _, pil in decoded],
                              device=self.device, batch_size=len(decoded))
        each = (time.perf_counter() - start) / len(decoded)  # the batch's time, shared out
        for (img, _), feat in zip(decoded, feats):
            if not self._stored(self.clip_key(img.sha256)):
                self.cache.save(self.clip_key(img.sha256), {"kind": "clip_image", "seconds": each},
                                {"features.npy": feat.numpy()})

    def _activations(self, key: str, decoded: Decoded) -> None:
        """Model ``key``'s pooled activations of the whole block; stores the missing ones."""
        if all(self._stored(self.acts_key(key, img.sha256)) for img, _ in decoded):
            return
        model, layers = self.models[key], self.collect[key]
        start = time.perf_counter()
        x = torch.cat([prepare(pil, model.preprocess).tensor for _, pil in decoded])
        acts = collect_activations(model.module, layers, [x], pool=self.pool, device=self.device,
                                   token_pool=self.token_pool, prefix=model.prefix_tokens)
        each = (time.perf_counter() - start) / len(decoded)
        for i, (img, _) in enumerate(decoded):
            if not self._stored(self.acts_key(key, img.sha256)):
                files = {f"{j}.npy": acts[layer][i].numpy() for j, layer in enumerate(layers)}
                self.cache.save(self.acts_key(key, img.sha256),
                                {"kind": "dissect_activations", "layers": layers, "seconds": each}, files)

    def image_features(self, probe: Sequence[ProbeImage]) -> torch.Tensor:
        """CLIP image features of the probe set (images x embed_dim), from the store."""
        rows = []
        for img in probe:
            art = self.cache.lookup(self.clip_key(img.sha256))
            self.timings.add("clip image features", art.meta["seconds"], "images")
            rows.append(art.array("features.npy"))
        return torch.from_numpy(np.stack(rows))

    def activations(self, key: str, probe: Sequence[ProbeImage]) -> dict[str, torch.Tensor]:
        """``{layer: images x neurons}`` of model ``key`` on the probe set, from the store."""
        layers = self.collect[key]
        cols: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
        for img in probe:
            art = self.cache.lookup(self.acts_key(key, img.sha256))
            self.timings.add(f"activations {key}", art.meta["seconds"], "images")
            for j, layer in enumerate(layers):
                cols[layer].append(art.array(f"{j}.npy"))
        return {layer: torch.from_numpy(np.stack(c)) for layer, c in cols.items()}
