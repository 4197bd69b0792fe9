"""Named baselines for the methods that compare the image with a reference (Integrated Gradients, DeepLift,
GradientSHAP, Expected Gradients, Occlusion, KernelSHAP).

A baseline is what "the feature is absent" means, and it is named, never implied. All are returned in the model's
normalised input space (``(pixels - mean) / std``), the space the model and captum work in:

* ``black``: pixel zeros, then normalised, ``-mean / std`` per channel. The default of Integrated Gradients and
  DeepLift. Not all-zeros of the normalised tensor: that is the dataset's mean colour (captum PR #428).
* ``mean``: normalised zeros, the mean colour of the model's training data.
* ``blur``: the image blurred with a Gaussian of ``sigma`` pixels (Fong & Vedaldi, ICCV 2017); blurring is linear,
  so blurring the normalised tensor equals normalising the blurred pixels (to float rounding).
* ``uniform``: pixels drawn uniformly in [0, 1] (from the study's seed), then normalised.
* ``probe``: photos of a probe folder, each prepared with the model's own preprocessing (Expected Gradients,
  Erion et al. 2021: the baselines are the data distribution); :func:`probe_photos` draws them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torchvision.transforms.functional as TF

from ...data import list_images, load_rgb, prepare
from ...errors import ConfigError
from ...models.preprocess import Preprocess

Baseline = Literal["black", "mean", "blur", "uniform"]
"""The baselines of one reference image; ``probe`` (many photos) is Expected Gradients' own."""

BLUR_SIGMA = 10.0
"""``blur``: the Gaussian's standard deviation in pixels."""


def _stats(pre: Preprocess, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(list(pre.mean), dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    std = torch.tensor(list(pre.std), dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    return mean, std


def baseline(name: Baseline, x: torch.Tensor, pre: Preprocess, seed: int, count: int = 1) -> torch.Tensor:
    """``count`` baselines named ``name`` for the normalised input ``x`` (1x3xHxW): a ``count``x3xHxW tensor on
    ``x``'s device. Only ``uniform`` differs between the ``count`` (its draws come from ``seed``)."""
    mean, std = _stats(pre, x)
    if name == "black":
        one = ((torch.zeros_like(x) - mean) / std)
    elif name == "mean":
        one = torch.zeros_like(x)
    elif name == "blur":
        side = int(2 * round(3 * BLUR_SIGMA) + 1)
        one = TF.gaussian_blur(x, [side, side], [BLUR_SIGMA, BLUR_SIGMA])
    elif name == "uniform":
        generator = torch.Generator().manual_seed(seed)
        pixels = torch.rand((count,) + tuple(x.shape[1:]), generator=generator).to(x.device, x.dtype)
        return (pixels - mean) / std
    else:
        raise ConfigError(f"unknown baseline {name!r}; allowed: black, mean, blur, uniform")
    return one.expand(count, -1, -1, -1).contiguous()


def probe_files(folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` photos of ``folder`` drawn without replacement by ``numpy.random.default_rng(seed)`` (sorted names
    first, so one folder and one seed give the same photos)."""
    files = list_images(folder)
    if len(files) < count:
        raise ConfigError(f"{folder}: {len(files)} probe photos, fewer than the {count} asked for; lower probe_images")
    picked = np.random.default_rng(seed).choice(len(files), size=count, replace=False)
    return [files[int(i)] for i in sorted(picked)]


def probe_photos(files: list[Path], pre: Preprocess, device: torch.device) -> torch.Tensor:
    """The photos prepared as the model sees them: a Nx3xHxW normalised tensor on ``device``."""
    return torch.cat([prepare(load_rgb(path), pre).tensor for path in files]).to(device)


def files_digest(files: list[Path]) -> str:
    """A digest of the photos' bytes (for the cache key: other photos, other maps)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
