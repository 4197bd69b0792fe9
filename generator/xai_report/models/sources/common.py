"""What the sources share: a torchvision-style transform read into a :class:`Preprocess`, the weights id of a
file, the ImageNet class names a 1000-class model gets."""

from __future__ import annotations

from pathlib import Path

from ...errors import BadInput
from ..preprocess import Preprocess
from ..weights import file_sha256


def preprocess_from_transform(transform, where: str) -> Preprocess:
    """A ``Compose([Resize, CenterCrop, ToTensor, Normalize])`` (what timm's ``create_transform`` and
    torchvision build for evaluation) as a :class:`Preprocess`; BadInput for any other step."""
    from torchvision import transforms as T

    resize, crop, mean, std, interpolation = None, None, None, None, "bilinear"
    for step in getattr(transform, "transforms", [transform]):
        name = type(step).__name__
        if isinstance(step, T.Resize):
            size = step.size
            resize = int(size) if isinstance(size, int) else int(size[0]) if len(size) == 1 else (int(size[0]), int(size[1]))
            interpolation = step.interpolation.value
        elif isinstance(step, T.CenterCrop):
            h, w = step.size
            if h != w:
                raise BadInput(f"{where}: centre crop {h}x{w} is not square; set models.<key>.preprocess")
            crop = int(h)
        elif isinstance(step, T.Normalize):
            mean, std = tuple(float(v) for v in step.mean), tuple(float(v) for v in step.std)
        elif name not in ("ToTensor", "MaybeToTensor", "PILToTensor", "MaybePILToTensor", "ConvertImageDtype"):
            raise BadInput(f"{where}: the evaluation transform has a {name} step xai-report cannot apply; "
                           "set models.<key>.preprocess")
    if resize is None or mean is None:
        raise BadInput(f"{where}: the evaluation transform has no Resize or no Normalize; set models.<key>.preprocess")
    return Preprocess(resize=resize, crop=crop, mean=mean, std=std, interpolation=interpolation)


def file_id(path: Path) -> str:
    """The first 16 hex digits of a weight file's SHA-256: cache keys change when the file does."""
    return file_sha256(path)[:16]


def imagenet_names(num_classes: int) -> tuple[list[str], list[str]]:
    """(wnids, names) of ImageNet-1k when the model has 1000 outputs, else two empty lists."""
    from ..classes import imagenet_classes

    return imagenet_classes() if num_classes == 1000 else ([], [])
