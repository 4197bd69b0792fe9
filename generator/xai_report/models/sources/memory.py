"""A model object in memory, given to the Python API (:func:`xai_report.api.build`): no weight file, no entry point.

``source = "memory"`` marks the study's model as one the caller passes in; a study file that names it and is built
from the command line stops with one line. :func:`loaded_from` makes the :class:`~..loaded.LoadedModel`: the
module's weights (a hash of its state dict, its class and its layers' repr) and its preprocessing identify it in
cache keys, so a notebook's model is cached as a file's is. A transform passed in is applied as given
(:attr:`~..preprocess.Preprocess.transform`); a :class:`~..preprocess.Preprocess` or a study-style table is applied
by the pipeline; nothing: the common ImageNet preprocessing.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Mapping, Sequence, Union

import torch
from PIL import Image
from torch import nn

from ...errors import ConfigError
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, with_overrides
from .base import Source, SourceParams
from .common import imagenet_names

DEFAULT_PREPROCESS = Preprocess(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
"""What a model given without preprocessing gets (torchvision's classic ImageNet evaluation pipeline)."""
PreprocessGiven = Union[Callable, Preprocess, Mapping, None]


class MemoryParams(SourceParams):
    """No keys: the model comes from the caller."""


def load(params: MemoryParams, offline: bool):
    raise ConfigError('source = "memory" is a model object given in Python: build the study with '
                      "xai_report.build(study, model=...), or name a file-based source in the study file")


SOURCE = Source("memory", MemoryParams, load)


def weights_hash(module: nn.Module) -> str:
    """First 16 hex digits of a SHA-256 of the module's class, its layers (``repr``) and every tensor of its
    state dict (name, dtype, shape, bytes): equal for the same network with the same weights, whatever object."""
    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}\n{module!r}".encode())
    for name, tensor in module.state_dict().items():
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()[:16]


def _normalisation(transform: Callable) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std of the transform's ``Normalize`` step (torchvision, or any step with ``mean`` and ``std``);
    none: the tensor is taken as pixels in [0, 1]."""
    for step in reversed(getattr(transform, "transforms", [transform])):
        mean, std = getattr(step, "mean", None), getattr(step, "std", None)
        if mean is not None and std is not None:
            return tuple(float(v) for v in mean), tuple(float(v) for v in std)
    return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def transform_id(transform: Callable) -> str:
    """The transform's class and a hash of its ``repr`` (torchvision and timm transforms print every setting);
    ConfigError for a transform whose ``repr`` is only its address (nothing would tell two of them apart)."""
    shown = repr(transform)
    if " at 0x" in shown:
        raise ConfigError(f"preprocess: {shown[:80]} cannot be identified for the cache (its repr is its address); "
                          "pass a torchvision/timm transform, or an object whose repr lists its settings")
    kind = type(transform)
    return f"{kind.__module__}.{kind.__qualname__} {hashlib.sha256(shown.encode()).hexdigest()[:16]}"


def from_transform(transform: Callable) -> Preprocess:
    """A transform as a :class:`Preprocess` that applies it as given (its output size read from one grey image)."""
    probe = torch.as_tensor(transform(Image.new("RGB", (320, 320), (128, 128, 128))))
    if probe.ndim not in (3, 4) or probe.shape[-3] != 3:
        raise ConfigError(f"preprocess: the transform returns shape {tuple(probe.shape)}; it must return 3xHxW")
    height, width = int(probe.shape[-2]), int(probe.shape[-1])
    mean, std = _normalisation(transform)
    return Preprocess(resize=(height, width), crop=None, mean=mean, std=std, transform=transform,
                      transform_id=transform_id(transform))


def preprocess_of(given: PreprocessGiven) -> tuple[Preprocess, str]:
    """(the preprocessing, where it came from) for what the caller gave."""
    if given is None:
        return DEFAULT_PREPROCESS, "xai-report's ImageNet default (no preprocess given)"
    if isinstance(given, Preprocess):
        return given, "the Preprocess given"
    if isinstance(given, Mapping):
        return with_overrides(DEFAULT_PREPROCESS, given), "the preprocess table given"
    if callable(given):
        return from_transform(given), f"the transform given, applied as is ({type(given).__name__})"
    raise ConfigError(f"preprocess: {type(given).__name__}; give a transform (PIL image -> tensor), a Preprocess or a "
                      "table of resize, crop, mean, std")


def loaded_from(module: nn.Module, preprocess: PreprocessGiven = None, class_names: Sequence[str] | None = None,
                default_layer: str = "", prefix_tokens: int | None = None):
    """The :class:`~..loaded.LoadedModel` of a model object (in eval mode), keyed by its weights and preprocessing."""
    from ..loaded import LoadedModel
    from ..outputs import as_classifier

    if not isinstance(module, nn.Module):
        raise ConfigError(f"model: {type(module).__name__} is not a torch nn.Module")
    pre, source = preprocess_of(preprocess)
    net = as_classifier(module.eval(), torch.zeros(1, 3, *pre.input_size), "the model given")
    with torch.inference_mode():
        num_classes = int(net(torch.zeros(1, 3, *pre.input_size)).shape[1])
    wnids, names = imagenet_names(num_classes)
    if class_names is not None:
        names, wnids = [str(n) for n in class_names], []
    if len(names) != num_classes:
        raise ConfigError(f"class_names: {len(names)} names for the {num_classes} outputs of the model given; "
                          "pass class_names=[...] with one name per output, in output order")
    if type(module).__module__.startswith("timm."):  # a timm model: its family's CAM layer and prefix tokens
        from .timm import default_layer as timm_layer, last_stage

        default_layer = default_layer or timm_layer(module) or last_stage(module)
        prefix_tokens = prefix_tokens if prefix_tokens is not None else getattr(module, "num_prefix_tokens", None)
    return LoadedModel(module=net, preprocess=pre, class_names=names, weights_id=f"memory:{weights_hash(module)}",
                       description=f"{type(module).__name__} given in Python (weights {weights_hash(module)})",
                       wnids=wnids, preprocess_source=source, prefix_tokens=prefix_tokens,
                       default_layer=default_layer)
