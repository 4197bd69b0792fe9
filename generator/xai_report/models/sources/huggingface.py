"""``source = "huggingface"``: an image classifier in Hugging Face ``save_pretrained`` layout.

``name`` is a local folder (``config.json`` + weights + ``preprocessor_config.json``) or, online, a hub id.
The model is ``AutoModelForImageClassification``, wrapped (:class:`~..outputs.LogitsOutput`) so that ``forward``
returns the logits; layers keep the model's own names (``vit.layers[-1].layernorm_before``). The tensor is the
``AutoImageProcessor``'s own output (:class:`ProcessorTransform`); its settings (size, centre crop, mean, std) describe
it for the pages and for the perturbed pixels of LIME and RISE. Class names come from the config's ``id2label``.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import BadInput, ConfigError, WeightsUnavailable
from ...extras import MissingExtra, require
from ..preprocess import Preprocess
from .base import Source, SourceParams

RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
"""PIL's resample codes (what image processors store) as torchvision interpolation names."""
PREFIX_TOKENS = {"vit": 1, "deit": 2, "swin": 0, "beit": 1, "dinov2": 1}
"""Tokens before the patch tokens in a layer's output, per ``config.model_type`` (DeiT: class + distillation)."""
DEFAULT_LAYERS = {kind: [f"{kind}.layers[-1].layernorm_before", f"{kind}.encoder.layer[-1].layernorm_before"]
                  for kind in ("vit", "deit")}
"""grad-cam's ViT layer (the last block's first norm), as transformers 5 and 4 name it."""


def default_layer(model, model_type: str) -> str:
    """The first of the family's :data:`DEFAULT_LAYERS` that exists in ``model``, or ""."""
    from ..layers import resolve_layer

    for path in DEFAULT_LAYERS.get(model_type, []):
        try:
            resolve_layer(model, path)
            return path
        except ConfigError:
            continue
    return ""


class HuggingFaceParams(SourceParams):
    name: str
    """A folder in ``save_pretrained`` layout (relative to the study file) or, online, a hub id."""


def check(params: HuggingFaceParams, offline: bool) -> None:
    try:
        require("transformers", "hf", 'source = "huggingface"')
    except MissingExtra as exc:
        raise MissingExtra(f"name: {exc}") from None
    folder = Path(params.name)
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ConfigError(f"name: {folder} has no config.json; save the model with save_pretrained(folder)")
    elif folder.is_absolute() or params.name.startswith(".") or params.name.count("/") > 1 or offline:
        raise ConfigError(f"name: folder {folder} does not exist (and a hub id needs the network)")


def preprocess_of(processor, where: str) -> Preprocess:
    """An image processor's evaluation pipeline as a :class:`Preprocess`."""
    size = dict(getattr(processor, "size", None) or {})
    if not getattr(processor, "do_resize", True):
        raise BadInput(f"{where}: the image processor does not resize; set models.<key>.preprocess")
    if size.get("height") and size.get("width"):
        resize: int | tuple[int, int] = (int(size["height"]), int(size["width"]))
    elif size.get("shortest_edge"):
        resize = int(size["shortest_edge"])
    else:
        raise BadInput(f"{where}: image processor size {size} is not supported; set models.<key>.preprocess")
    crop = None
    if getattr(processor, "do_center_crop", False):
        crop_size = dict(processor.crop_size)
        if crop_size.get("height") != crop_size.get("width"):
            raise BadInput(f"{where}: centre crop {crop_size} is not square; set models.<key>.preprocess")
        crop = int(crop_size["height"])
    if getattr(processor, "do_rescale", True) and abs(float(getattr(processor, "rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise BadInput(f"{where}: rescale_factor {processor.rescale_factor} is not 1/255; set models.<key>.preprocess")
    normalize = getattr(processor, "do_normalize", True)
    mean = tuple(float(v) for v in processor.image_mean) if normalize else (0.0, 0.0, 0.0)
    std = tuple(float(v) for v in processor.image_std) if normalize else (1.0, 1.0, 1.0)
    resample = getattr(processor, "resample", 2)
    interpolation = RESAMPLE.get(int(getattr(resample, "value", resample)), "bilinear")
    return Preprocess(resize=resize, crop=crop, mean=mean, std=std, interpolation=interpolation)


class ProcessorTransform:
    """An image processor as a transform: PIL image -> its ``pixel_values`` (1x3xHxW), exactly what
    ``processor(images, return_tensors="pt")`` gives (a class, not a lambda: Dask workers receive it pickled)."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, image):
        return self.processor(images=image, return_tensors="pt")["pixel_values"]

    def identity(self) -> str:
        """Its class and settings, for cache keys and the pages."""
        import hashlib
        import json

        settings = json.dumps(self.processor.to_dict(), sort_keys=True, default=str)
        return f"{type(self.processor).__name__} {hashlib.sha256(settings.encode()).hexdigest()[:16]}"


def own_preprocess(processor, where: str) -> Preprocess:
    """:func:`preprocess_of` with the processor itself as the transform that makes the tensor."""
    from dataclasses import replace

    exact = ProcessorTransform(processor)
    return replace(preprocess_of(processor, where), transform=exact, transform_id=exact.identity())


def load(params: HuggingFaceParams, offline: bool):
    check(params, offline)
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from ..loaded import LoadedModel
    from ..outputs import LogitsOutput
    from .common import file_id

    folder = Path(params.name)
    local = folder.is_dir()
    try:
        model = AutoModelForImageClassification.from_pretrained(params.name, local_files_only=local or offline)
        processor = AutoImageProcessor.from_pretrained(params.name, local_files_only=local or offline)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if local:
            raise BadInput(f"{folder}: not a Hugging Face image classifier ({first[:200]})") from None
        raise WeightsUnavailable(f"Hugging Face {params.name}: cannot be loaded ({first[:200]})") from None
    config = model.config
    labels = {int(k): v for k, v in (config.id2label or {}).items()}
    names = [labels.get(i, f"LABEL_{i}") for i in range(config.num_labels)]
    if local:
        weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
        weights_id = "hf:" + ":".join(f"{p.name}={file_id(p)}" for p in weights)
    else:
        weights_id = f"hf:{params.name}:{getattr(config, '_commit_hash', '') or ''}"
    model_type = getattr(config, "model_type", "")
    module = LogitsOutput(model.eval(), f"Hugging Face {params.name}")
    return LoadedModel(
        module=module.eval(), preprocess=own_preprocess(processor, str(params.name)), class_names=names,
        weights_id=weights_id + f":{model_type}", description=f"Hugging Face {model_type} from {folder.name if local else params.name}",
        preprocess_source=f"AutoImageProcessor ({type(processor).__name__}), applied as is",
        prefix_tokens=PREFIX_TOKENS.get(model_type), default_layer=default_layer(model, model_type),
    )


SOURCE = Source("huggingface", HuggingFaceParams, load, check)
