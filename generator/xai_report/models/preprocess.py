"""How a classifier wants its input: resize, centre-crop, scale to [0, 1], normalise per channel."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Optional

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side (or to ``(h, w)``), centre-crop, scale to [0, 1], then normalise per channel:
    ``x = (rgb / 255 - mean) / std``.

    With :attr:`transform`, the model's own callable makes the tensor instead, exactly as given (a Hugging Face
    image processor, a transform passed to :func:`xai_report.api.build`); the fields above then describe it: the
    input size it produces and the normalisation that LIME's and RISE's perturbed pixels get (an affine last step,
    as ``ToTensor`` + ``Normalize`` and image processors have)."""

    resize: int | tuple[int, int]
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    transform: Optional[Callable] = field(default=None, compare=False, repr=False)
    """PIL image -> 1x3xHxW (or 3xHxW) tensor: the model's own preprocessing, applied as is."""
    transform_id: str = ""
    """What identifies :attr:`transform` in cache keys and on the pages (its class and settings)."""

    def to_dict(self) -> dict:
        found = {
            "resize": list(self.resize) if isinstance(self.resize, tuple) else self.resize,
            "crop": self.crop,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
        }
        if self.transform is not None:  # absent otherwise: the keys of every other model stay as they were
            found["transform"] = self.transform_id
        return found

    @property
    def input_size(self) -> tuple[int, int]:
        if self.crop is not None:
            return (self.crop, self.crop)
        if isinstance(self.resize, tuple):
            return self.resize
        return (self.resize, self.resize)


def with_overrides(pre: Preprocess, table: Mapping) -> Preprocess:
    """``pre`` with the keys a study file's ``preprocess`` table gives replaced (the config has checked them).

    ``resize`` is a side length or ``[h, w]``; ``crop = 0`` means no centre crop. The table's keys are applied by
    this pipeline, so a model's own :attr:`~Preprocess.transform` is dropped.
    """
    changes: dict = {"transform": None, "transform_id": ""}
    if "resize" in table:
        resize = table["resize"]
        changes["resize"] = tuple(int(v) for v in resize) if isinstance(resize, (list, tuple)) else int(resize)
    if "crop" in table:
        changes["crop"] = int(table["crop"]) or None
    for name in ("mean", "std"):
        if name in table:
            changes[name] = tuple(float(v) for v in table[name])
    if "interpolation" in table:
        changes["interpolation"] = str(table["interpolation"])
    return replace(pre, **changes)
