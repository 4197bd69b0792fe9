"""Images, image folders and concept lists: read safely, converted to what the models expect."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps
from torchvision.transforms import functional as TF
from torchvision.transforms import InterpolationMode

from .errors import BadInput
from .models import Preprocess

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MIN_SIDE = 32
MAX_PIXELS = 64_000_000
"""Larger images are refused as possible decompression bombs (Pillow's own warning starts at ~89 M)."""

_WNID = re.compile(r"^(n\d{8})[_\-.]")


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder (not recursive), sorted by name for a deterministic order."""
    if not folder.is_dir():
        raise BadInput(f"{folder}: image folder not found; fix the path in the study config")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_rgb(path: Path) -> Image.Image:
    """Open an image as 8-bit RGB, honouring EXIF orientation; BadInput with the reason if unusable.

    Grayscale, palette, CMYK, 16-bit and alpha images are converted (alpha is composited on white).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise BadInput(f"{path.name}: {img.width}x{img.height} is too large (over {MAX_PIXELS:,} pixels)")
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_rgb(img)
    except BadInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadInput(f"{path.name}: refused as a possible decompression bomb") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInput(f"{path.name}: not a readable image ({reason})") from None
    if min(rgb.size) < MIN_SIDE:
        raise BadInput(f"{path.name}: {rgb.width}x{rgb.height} is too small (under {MIN_SIDE} px)")
    return rgb


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.max() > 0 else 1.0
        img = Image.fromarray((arr / (65535.0 if hi > 255 else 255.0) * 255).clip(0, 255).astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def wnid_of(path: Path) -> str | None:
    """The WordNet id at the start of an ImageNet-style file name (``n01443537_goldfish.JPEG``)."""
    match = _WNID.match(path.name)
    return match.group(1) if match else None


@dataclass(frozen=True)
class PreparedImage:
    """An image as the model sees it: the cropped RGB array (for overlays) and the normalised tensor."""

    rgb: np.ndarray
    """float32 HxWx3 in [0, 1], exactly the pixels the model sees."""
    tensor: torch.Tensor
    """float32 1x3xHxW, normalised with the model's mean and std."""


def prepare(img: Image.Image, pre: Preprocess) -> PreparedImage:
    """Apply a model's own preprocessing (resize, centre crop, normalise)."""
    interp = InterpolationMode(pre.interpolation)
    size = list(pre.resize) if isinstance(pre.resize, tuple) else pre.resize
    resized = TF.resize(img, size, interpolation=interp, antialias=True)
    cropped = TF.center_crop(resized, pre.crop) if pre.crop is not None else resized
    pixels = TF.to_tensor(cropped)
    tensor = TF.normalize(pixels, list(pre.mean), list(pre.std)).unsqueeze(0)
    return PreparedImage(rgb=pixels.permute(1, 2, 0).numpy().copy(), tensor=tensor)


def normalise(rgb: np.ndarray, pre: Preprocess) -> torch.Tensor:
    """HxWx3 (or NxHxWx3) float [0, 1] pixels -> normalised Nx3xHxW tensor for the model."""
    arr = torch.as_tensor(np.asarray(rgb, dtype=np.float32))
    if arr.ndim == 3:
        arr = arr.unsqueeze(0)
    arr = arr.permute(0, 3, 1, 2)
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1)
    return (arr - mean) / std


def read_concepts(path: Path) -> list[str]:
    """A concept list: one concept a line; BOM, CRLF, blank lines and duplicates are dropped (first kept)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{path}: concept list not found; fix dissection.concepts in the study config") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: concept list is not UTF-8 text; save it as UTF-8") from None
    seen: dict[str, None] = {}
    for line in text.splitlines():
        word = line.strip()
        if word and word not in seen:
            seen[word] = None
    if not seen:
        raise BadInput(f"{path}: concept list is empty; put one concept a line")
    return list(seen)
