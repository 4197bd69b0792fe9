"""Overlay pictures, as in the original study: CAM heatmaps on the photo, LIME with yellow boundaries."""

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


def lime_overlay(rgb: np.ndarray, segments: np.ndarray, top_segments: list[int]) -> bytes:
    """Yellow boundaries around the superpixels that support the explained class most, as JPEG bytes."""
    mask = np.isin(segments, np.asarray(top_segments, dtype=segments.dtype)).astype(np.int32)
    outlined = mark_boundaries(rgb.astype(np.float64), mask, color=(1.0, 1.0, 0.0))
    return jpeg_bytes((np.clip(outlined, 0, 1) * 255).round().astype(np.uint8))


def photo(rgb: np.ndarray) -> bytes:
    """The model's view of the photo (after resize and crop), as JPEG bytes."""
    return jpeg_bytes((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))
