"""Object boxes for the study images, and their footprint in the model's input frame.

A boxes file is a CSV with the columns ``file,wnid,x0,y0,x1,y1,object``: pixel coordinates in the ORIGINAL
image (x to the right, y down, ``x1``/``y1`` exclusive), one row per box; an image with several objects has
several rows, and a row with empty coordinates says that the file's author marked no object in that image.

The maps live in the model's input frame: the image after the model's own resize (shorter side, or
``[h, w]``) and centre crop (:mod:`xai_report.models.preprocess`, applied by :func:`xai_report.data.prepare`
through torchvision). :func:`input_mask` maps the boxes through the same geometry and marks every input pixel
whose centre falls inside a box.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from ....errors import BadInput
from ....models import Preprocess

COLUMNS = ("file", "wnid", "x0", "y0", "x1", "y1", "object")
COORDS = ("x0", "y0", "x1", "y1")


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    name: str


@dataclass(frozen=True)
class ImageBoxes:
    """The boxes of one image; ``boxes`` empty means the file marks no object in it."""

    file: str
    boxes: tuple[Box, ...]

    def to_json(self) -> list[list]:
        """The boxes as ``[x0, y0, x1, y1, object]`` rows (part of the measures' cache key)."""
        return [[b.x0, b.y0, b.x1, b.y1, b.name] for b in self.boxes]


def read_boxes(path: Path) -> dict[str, ImageBoxes]:
    """File name -> its boxes, from a boxes CSV (see the module docstring); BadInput naming the row if unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: boxes file cannot be read ({exc}); fix attribution.boxes") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or tuple(rows[0].keys())[: len(COLUMNS)] != COLUMNS:
        raise BadInput(f"{path}: a boxes file needs the header {','.join(COLUMNS)}; fix attribution.boxes")
    found: dict[str, list[Box]] = {}
    for line, row in enumerate(rows, start=2):
        name = (row["file"] or "").strip()
        values = [(row[c] or "").strip() for c in COORDS]
        boxes = found.setdefault(name, [])
        if not any(values):
            continue
        try:
            x0, y0, x1, y1 = (float(v) for v in values)
        except ValueError:
            raise BadInput(f"{path}, line {line}: x0,y0,x1,y1 must be four numbers or all empty") from None
        if not (0 <= x0 < x1 and 0 <= y0 < y1):
            raise BadInput(f"{path}, line {line}: need 0 <= x0 < x1 and 0 <= y0 < y1, got {values}")
        boxes.append(Box(x0, y0, x1, y1, (row["object"] or "").strip()))
    return {name: ImageBoxes(name, tuple(boxes)) for name, boxes in found.items()}


def _resized_size(width: int, height: int, pre: Preprocess) -> tuple[int, int]:
    """(width, height) after the resize, as torchvision computes it (shorter side to ``resize``, the longer
    one scaled and truncated)."""
    if isinstance(pre.resize, tuple):
        return pre.resize[1], pre.resize[0]
    short, long = min(width, height), max(width, height)
    new_long = int(pre.resize * long / short)
    return (pre.resize, new_long) if width <= height else (new_long, pre.resize)


def _crop_offset(size: int, crop: int) -> int:
    """Where torchvision's centre crop starts along one side (negative: it pads a smaller image first)."""
    if crop > size:
        return -((crop - size) // 2)
    return int(round((size - crop) / 2.0))


def input_mask(boxes: ImageBoxes, original_wh: tuple[int, int], pre: Preprocess) -> np.ndarray:
    """Bool ``HxW`` mask (the model's input size) of the pixels whose centre lies in any of the boxes.

    An input pixel ``(i, j)`` has its centre at ``(left + j + 0.5, top + i + 0.5)`` in the resized image,
    that is at ``x = (left + j + 0.5) * W / W'`` (and the same for ``y``) in the original of width ``W``
    resized to ``W'``; it is inside a box when ``x0 <= x < x1`` and ``y0 <= y < y1``.
    """
    width, height = original_wh
    new_w, new_h = _resized_size(width, height, pre)
    out_h, out_w = pre.input_size if pre.crop is not None else (new_h, new_w)
    left, top = _crop_offset(new_w, out_w), _crop_offset(new_h, out_h)
    xs = (left + np.arange(out_w) + 0.5) * (width / new_w)
    ys = (top + np.arange(out_h) + 0.5) * (height / new_h)
    mask = np.zeros((out_h, out_w), dtype=bool)
    for b in boxes.boxes:
        cols = (xs >= b.x0) & (xs < b.x1)
        rows = (ys >= b.y0) & (ys < b.y1)
        mask |= rows[:, None] & cols[None, :]
    return mask


def metric_mask(found: Mapping[str, ImageBoxes], file: str, original_wh: tuple[int, int],
                pre: Preprocess) -> Optional[np.ndarray]:
    """The image's :attr:`MetricInput.boxes <..base.MetricInput.boxes>`: :func:`input_mask` of the boxes of
    ``file`` in ``found`` (:func:`read_boxes`), or None when the boxes file has no row for it.

    A row without boxes, or boxes that fall outside the model's centre crop, give an all-False mask: the
    localisation metrics then say that no object lies in the model's input, rather than that the study gives
    no boxes.
    """
    marked = found.get(file)
    if marked is None:
        return None
    return input_mask(marked, original_wh, pre)
