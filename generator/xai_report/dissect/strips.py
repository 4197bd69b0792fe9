"""Image strips: a neuron's top activating probe images, showing where in each image it fires.

After Bau et al., "Network Dissection: Quantifying Interpretability of Deep Visual Representations",
CVPR 2017 (Fig. 1 and the unit visualisations): each thumbnail is a probe image as the classifier sees it
(its own resize and crop) with the unit's activation map, bilinearly upsampled to the thumbnail, over it.

Network Dissection thresholds each unit's map at a dataset-wide quantile (the top 0.5% of the unit's
activations over every position of every image). That needs every spatial map of the whole probe set;
here the scale is the unit's largest activation over the images of its own strip, so:

* the photo is dimmed where the unit is quiet (brightness ``QUIET + (1 - QUIET) * m``, ``m`` the map
  divided by that maximum, clipped to [0, 1]), and
* the region where ``m >= OUTLINE_LEVEL`` (half the unit's strip maximum) is outlined.

Maps of one unit share one scale, so a weaker response on the fifth image shows as a dimmer, smaller region.
Layers without a spatial map (``fc``) get plain thumbnails. :func:`draw_strips` draws the strips of many
neurons in one pass over the images they show.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..data import load_rgb, prepare
from ..models import LoadedModel
from ..progress import Progress
from ..activations import layers_maps

THUMB = 128
"""Thumbnail side in pixels: a neuron card shows each at 110 px or more (a reviewer must see what is outlined)
and the lightbox opens the strip larger still."""
GAP = 3
QUIET = 0.3
"""Brightness kept where the unit does not fire, so the photo stays recognisable."""
OUTLINE_LEVEL = 0.5
OUTLINE_RGB = (255, 214, 0)
JPEG_QUALITY = 85

PARAMS = {"thumb": THUMB, "gap": GAP, "quiet": QUIET, "outline_level": OUTLINE_LEVEL, "outline_rgb": OUTLINE_RGB,
          "quality": JPEG_QUALITY}
"""Everything that changes a strip's pixels (part of its cache key)."""
CODE = (__name__,)
"""The code a strip comes from (part of its cache key): this module and its import closure."""


def thumbnail(rgb: np.ndarray, size: int = THUMB) -> np.ndarray:
    """The model's view of an image (float HxWx3 in [0, 1]) as a ``size`` x ``size`` uint8 thumbnail."""
    img = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.resize((size, size), Image.Resampling.BICUBIC))


def upsample(maps: torch.Tensor, size: int = THUMB) -> np.ndarray:
    """Raw maps (n, h, w) -> (n, size, size), bilinear like ``activations.activation_maps``' ``size``."""
    up = torch.nn.functional.interpolate(maps.float().unsqueeze(1), size=(size, size), mode="bilinear",
                                         align_corners=False)
    return up[:, 0].numpy()


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the region's one-pixel border)."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def overlay(thumb: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Dim ``thumb`` where ``heat`` (in [0, 1]) is low and outline the region ``heat >= OUTLINE_LEVEL``."""
    shade = QUIET + (1.0 - QUIET) * np.clip(heat, 0.0, 1.0)
    out = np.round(thumb.astype(np.float32) * shade[..., None]).astype(np.uint8)
    out[_outline(heat >= OUTLINE_LEVEL)] = OUTLINE_RGB
    return out


def heat_maps(maps: np.ndarray) -> np.ndarray | None:
    """Upsampled maps of one unit divided by their common maximum; ``None`` if the unit never fires (max <= 0)."""
    top = float(maps.max()) if maps.size else 0.0
    return maps / top if top > 0 else None


def compose(tiles: list[np.ndarray]) -> bytes:
    """Tiles side by side on white with ``GAP`` pixels between them, as a JPEG."""
    width = len(tiles) * THUMB + (len(tiles) - 1) * GAP
    canvas = np.full((THUMB, max(width, 1), 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        x = i * (THUMB + GAP)
        canvas[:, x:x + THUMB] = tile
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def strip_jpeg(thumbs: list[np.ndarray], maps: torch.Tensor | None) -> bytes:
    """One neuron's strip: ``thumbs`` (its top images, best first) with ``maps`` (n, h, w) over them, or
    plain thumbnails when ``maps`` is None (no spatial map) or the unit never fires on them."""
    heat = heat_maps(upsample(maps)) if maps is not None else None
    tiles = thumbs if heat is None else [overlay(t, h) for t, h in zip(thumbs, heat)]
    return compose(list(tiles))


def draw_strips(model: LoadedModel, paths: Sequence[Path], spatial: set[str], rows: Sequence[dict], batch_size: int,
                device: torch.device, desc: str) -> tuple[dict[tuple[str, int], bytes], float]:
    """The strips of ``rows`` (neurons with ``layer``, ``unit`` and ``top_images``, indices into ``paths``),
    drawn in one pass over the images they show: each image is decoded once, and one forward pass per batch
    gives the maps of every wanted unit of the ``spatial`` layers. The batches are fixed blocks of
    ``batch_size`` consecutive probe images (a block is run whole when any of its images is needed), so an
    image's maps never depend on which strips were missing: a resumed build draws the same bits as a clean one.
    Returns ``{(layer, unit): JPEG}`` and the seconds per strip (the pass's time, shared out)."""
    wanted: dict[tuple[str, int], list[int]] = {}  # (layer, image) -> units whose strip shows the image
    for r in rows:
        for i in r["top_images"]:
            wanted.setdefault((r["layer"], i), []).append(r["unit"])
    needed = sorted({i for r in rows for i in r["top_images"]})
    thumbs, maps = {}, {}
    start = time.perf_counter()
    blocks = sorted({i // batch_size for i in needed})
    batches = [list(range(b * batch_size, min((b + 1) * batch_size, len(paths)))) for b in blocks]
    progress = Progress(desc, len(batches))
    for batch in batches:
        prepared = [prepare(load_rgb(paths[i]), model.preprocess) for i in batch]
        thumbs.update({i: thumbnail(p.rgb) for i, p in zip(batch, prepared)})
        x = torch.cat([p.tensor for p in prepared]).to(device)
        _collect_maps(model, spatial, x, batch, wanted, maps, device)
        progress.step()
        progress.done(f"probe images {batch[0] + 1}-{batch[-1] + 1}")
    progress.close()
    jpegs = {}
    for r in rows:
        imgs, unit, layer = r["top_images"], r["unit"], r["layer"]
        unit_maps = torch.stack([maps[(layer, unit, i)] for i in imgs]) if layer in spatial else None
        jpegs[(layer, unit)] = strip_jpeg([thumbs[i] for i in imgs], unit_maps)
    return jpegs, round((time.perf_counter() - start) / len(rows), 5)


def _collect_maps(model: LoadedModel, spatial: set[str], x: torch.Tensor, batch: Sequence[int], wanted: dict,
                  maps: dict, device: torch.device) -> None:
    """The maps of every wanted unit of the ``spatial`` layers on this batch, from one forward pass."""
    units = {layer: sorted({u for i in batch for u in wanted.get((layer, i), [])}) for layer in sorted(spatial)}
    units = {layer: found for layer, found in units.items() if found}
    if not units:
        return
    out = layers_maps(model.module, units, x, device=device)
    for layer, found in units.items():
        column = {u: j for j, u in enumerate(found)}
        for row, i in enumerate(batch):
            for u in wanted.get((layer, i), []):
                maps[(layer, u, i)] = out[layer][row, column[u]].clone()  # a copy: keep the small map, not the batch
