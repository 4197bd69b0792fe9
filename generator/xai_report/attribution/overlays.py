"""Overlay pictures, as in the original study: heatmaps on the photo, regions with yellow boundaries."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pytorch_grad_cam.utils.image import show_cam_on_image
from skimage.segmentation import mark_boundaries

JPEG_QUALITY = 90


def jpeg_bytes(rgb_uint8: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb_uint8).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def cam_overlay(rgb: np.ndarray, cam: np.ndarray) -> bytes:
    """The jet-coloured heatmap blended onto the photo (red = most important), as JPEG bytes."""
    return jpeg_bytes(show_cam_on_image(rgb.astype(np.float32), cam.astype(np.float32), use_rgb=True))


def heatmap_overlay(rgb: np.ndarray, saliency: np.ndarray) -> bytes:
    """Any map, min-max scaled to [0, 1] (a constant map becomes all 0), as :func:`cam_overlay` draws it."""
    values = np.nan_to_num(saliency.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    spread = values.max() - values.min()
    scaled = (values - values.min()) / spread if spread > 0 else np.zeros_like(values)
    return cam_overlay(rgb, scaled)


def regions_overlay(rgb: np.ndarray, segments: np.ndarray, top_segments: list[int]) -> bytes:
    """Yellow boundaries around the regions (e.g. superpixels) that support the explained class most, as JPEG."""
    mask = np.isin(segments, np.asarray(top_segments, dtype=segments.dtype)).astype(np.int32)
    outlined = mark_boundaries(rgb.astype(np.float64), mask, color=(1.0, 1.0, 0.0))
    return jpeg_bytes((np.clip(outlined, 0, 1) * 255).round().astype(np.uint8))


def photo(rgb: np.ndarray) -> bytes:
    """The model's view of the photo (after resize and crop), as JPEG bytes."""
    return jpeg_bytes((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))


SIGNED_PERCENTILE = 98.0
"""Signed maps are scaled by this percentile of |map| (values beyond it saturate), as captum's
``visualize_image_attr`` scales by ``100 - outlier_perc`` (2 by default)."""


def signed_overlay(rgb: np.ndarray, attribution: np.ndarray) -> bytes:
    """A signed map on the photo, centred on zero: red where the pixel is evidence for the class, blue against it,
    the photo unchanged where the map is zero. ``v = clip(map / P98(|map|), -1, 1)``; the colour is blended in with
    weight ``0.7 |v|``, so the strength of the colour is the size of the evidence."""
    values = np.nan_to_num(attribution.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    scale = float(np.percentile(np.abs(values), SIGNED_PERCENTILE)) if values.size else 0.0
    v = np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values)
    colour = np.where(v[..., None] >= 0, np.array([0.85, 0.05, 0.05]), np.array([0.05, 0.25, 0.9]))
    weight = 0.7 * np.abs(v)[..., None]
    blended = rgb.astype(np.float64) * (1.0 - weight) + colour * weight
    return jpeg_bytes((np.clip(blended, 0, 1) * 255).round().astype(np.uint8))
