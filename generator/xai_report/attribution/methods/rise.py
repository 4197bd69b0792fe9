"""RISE (Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box Models",
BMVC 2018): a black-box saliency map from randomly masked copies of the image.

For ``N`` random masks ``M_i`` with values in [0, 1], the saliency of pixel ``λ`` for class ``c`` is the
expected score of the masked image given that ``λ`` is kept, estimated by Monte Carlo:

    S_c(λ) = 1 / (N · p) · Σ_i f_c(I ⊙ M_i) · M_i(λ)

where ``f_c`` is the model's softmax probability of class ``c`` and ``p`` the probability that a mask cell is
kept (``E[M(λ)] = p``). Masks are made as in the paper (section 3.2): a binary grid of ``s x s`` cells, each
1 with probability ``p``; upsampled bilinearly to ``(s + 1) · C_H x (s + 1) · C_W`` with the cell size
``C = ceil(H / s)`` (ceil, so that every shift fits); cropped to ``H x W`` at a uniformly random offset in
``[0, C_H) x [0, C_W)``, so the soft mask edges fall anywhere, not on a fixed lattice. As in the authors'
implementation the masks multiply the *normalised* input, so a hidden pixel takes the normalisation mean.

Parameters (module constants): ``s = 7`` and ``p = 0.5`` are the paper's for 224x224 ImageNet models.
The paper uses ``N = 4000`` for ResNet50; :data:`MASKS` is 2000 here, because RISE costs one forward pass
per mask: 2000 passes of EfficientNet-Lite0 at 224x224 took 27-43 s per image on the project's 2 shared CPU
cores (1000 took 18-28 s), well under a minute, where 4000 would take over a minute. The Monte Carlo noise
shrinks as 1/sqrt(N), and 1000 masks were not enough: the maps of two seeds agreed with Spearman rho 0.74
(tiger shark) and 0.71 (kite) at 7x7 with 1000 masks, 0.87 (tiger shark) with 2000. Where masking barely
moves the probability (the goldfish, p = 0.95, whose map spans only 0.79-0.89) RISE's map stays mostly noise
at either N (rho 0.09 at 2000): when the probability hardly depends on which cells are kept, the signal is
small against the sampling noise, and only far more masks would help.

The masks are drawn from ``numpy.random.default_rng(study seed)``, so one config gives one map. The passes
run through a :class:`~.inference.BatchScorer`: gradient-free, on CPU a frozen copy of the model.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pydantic import BaseModel, ConfigDict

from ...data import PreparedImage
from ...errors import ConfigError
from .explainer import Explainer, Explanation, Settings
from ..inference import BatchScorer

MASKS = 2000
"""N, the number of random masks (see the module docstring for why not the paper's 4000)."""
CELLS = 7
"""s, the grid's cells per side (the paper's value for 224x224 inputs)."""
KEEP = 0.5
"""p, the probability that a grid cell is kept (the paper's value)."""
BLOCK = 50
"""Masks made and applied at a time (memory: 50 x 3 x 224 x 224 floats = 30 MB; all 2000 would be 1.2 GB)."""


class MaskDraw(NamedTuple):
    """What is random about a set of masks; the masks themselves are made block by block (:func:`masks_of`)."""

    grids: np.ndarray
    """float32 count x s x s, each cell 0 or 1."""
    dy: np.ndarray
    """Crop offset of each mask, rows."""
    dx: np.ndarray
    """Crop offset of each mask, columns."""
    hw: tuple[int, int]
    """The image size the masks cover."""


def draw_grids(count: int, cells: int, keep: float, hw: tuple[int, int], rng: np.random.Generator) -> MaskDraw:
    """The random part of ``count`` masks: binary ``cells x cells`` grids (1 with probability ``keep``) and
    each mask's crop offset, uniform in ``[0, C_H) x [0, C_W)`` with ``C = ceil(side / cells)``."""
    cell_h, cell_w = math.ceil(hw[0] / cells), math.ceil(hw[1] / cells)
    grids = (rng.random((count, cells, cells)) < keep).astype(np.float32)
    return MaskDraw(grids, rng.integers(0, cell_h, size=count), rng.integers(0, cell_w, size=count), hw)


def masks_of(draw: MaskDraw, rows: slice) -> np.ndarray:
    """The masks ``rows`` of a draw (float32, n x H x W in [0, 1]): grids upsampled bilinearly to
    ``(cells + 1) · C``, then cropped at their offsets."""
    (h, w), cells = draw.hw, draw.grids.shape[-1]
    size = ((cells + 1) * math.ceil(h / cells), (cells + 1) * math.ceil(w / cells))
    up = F.interpolate(torch.from_numpy(draw.grids[rows])[:, None], size=size, mode="bilinear",
                       align_corners=False)[:, 0].numpy()
    offsets = zip(draw.dy[rows], draw.dx[rows])
    return np.stack([mask[dy : dy + h, dx : dx + w] for mask, (dy, dx) in zip(up, offsets)])


class RiseParams(BaseModel):
    """RISE's parameters, the study's ``[attribution.rise]`` table."""

    model_config = ConfigDict(extra="forbid", strict=True)

    masks: int = MASKS
    """Random masks N; the map averages N masked passes."""
    cells: int = CELLS
    """Each mask is a ``cells`` x ``cells`` grid before upsampling."""
    keep: float = KEEP
    """Probability p that a cell is kept."""

    def check(self) -> None:
        if self.masks < 1 or self.cells < 1 or not 0.0 < self.keep <= 1.0:
            raise ConfigError("attribution.rise: masks >= 1, cells >= 1 and 0 < keep <= 1 are required")


class RiseExplainer(Explainer):
    """RISE through the :class:`~.explainer.Explainer` interface, with the study's ``[attribution.rise]``."""

    def __init__(self, settings: Settings, params: RiseParams) -> None:
        self.seed = settings.seed
        self.device = settings.device
        self.masks, self.cells, self.keep = params.masks, params.cells, params.keep

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        x = image.tensor.to(self.device)
        hw = (int(x.shape[-2]), int(x.shape[-1]))
        rng = np.random.default_rng(self.seed)
        draw = draw_grids(self.masks, self.cells, self.keep, hw, rng)
        scorer = BatchScorer(model)
        saliency = np.zeros(hw, dtype=np.float64)
        for start in range(0, self.masks, BLOCK):
            block = masks_of(draw, slice(start, start + BLOCK))
            batch = x * torch.from_numpy(block)[:, None].to(x.device)
            with torch.inference_mode():
                scores = torch.softmax(scorer(batch).float(), dim=1)[:, int(target)].cpu().numpy()
            # Σ_i f_c(I ⊙ M_i) · M_i over this block, in float64 (numpy's pairwise sum: no order effects).
            saliency += (scores.astype(np.float64)[:, None, None] * block).sum(axis=0)
        return Explanation(map=(saliency / (self.masks * self.keep)).astype(np.float32))

    def params(self) -> dict[str, Any]:
        return {"masks": self.masks, "cells": self.cells, "keep": self.keep, "seed": self.seed}

    def settings(self) -> dict[str, str]:
        return {"Masks": f"{self.masks} random masks of {self.cells}x{self.cells} cells kept with probability "
                         f"{self.keep}, upsampled bilinearly with a random shift",
                "Baseline": "hidden pixels take the normalisation mean"}
