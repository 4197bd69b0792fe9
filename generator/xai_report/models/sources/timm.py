"""``source = "timm"``: any timm architecture, weights from a local file (or timm's pretrained weights online).

Preprocessing is timm's own for the model, as its model cards prescribe: ``timm.data.resolve_model_data_config``
then ``create_transform(is_training=False)``; an ``img_size`` in ``kwargs`` sets the input size. Class names
come from ``class_names`` (one a line) or, for 1000 outputs, ImageNet's. Token models are described for the
CAMs: ``num_prefix_tokens`` (ViT, DeiT) and channels-last outputs (Swin's ``output_fmt = "NHWC"``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import ConfigError, WeightsUnavailable
from ..weights import OFFLINE_DEMO_HINT, load_checkpoint, load_state_dict_checked, local_weight_file
from .base import Source, SourceParams, closest, read_class_names
from .common import file_id, imagenet_names, preprocess_from_transform


class TimmParams(SourceParams):
    name: str
    """A timm model name (``timm.list_models()``), e.g. ``vit_tiny_patch16_224``."""
    file: str = ""
    """A state dict (``.pth``) or ``.safetensors`` file of that architecture; empty: timm's pretrained weights."""
    class_names: str = ""
    """A text file of class names, one a line, in output order (default: ImageNet's for 1000 outputs)."""
    kwargs: dict[str, Any] = {}
    """Keyword arguments of ``timm.create_model`` (``num_classes``, ``img_size``, ``depth``, ...)."""


def default_layer(module) -> str:
    """The CAM layer grad-cam documents per family: a ViT's (DeiT's) last block's first norm, a Swin's last stage."""
    from timm.models.swin_transformer import SwinTransformer
    from timm.models.vision_transformer import VisionTransformer

    if isinstance(module, VisionTransformer):
        return "blocks[-1].norm1"
    if isinstance(module, SwinTransformer):
        return "layers[-1]"
    return ""


def last_stage(module) -> str:
    """The last feature stage timm declares (``feature_info``), e.g. ConvNeXt's ``stages.3``; "" if none."""
    info = getattr(module, "feature_info", None) or []
    return str(info[-1].get("module", "")) if info and isinstance(info[-1], dict) else ""


def check(params: TimmParams, offline: bool) -> None:
    import timm

    if not timm.is_model(params.name):
        raise ConfigError(f"name: unknown timm model {params.name!r}; closest: {closest(params.name, timm.list_models())}")


def load_weights(path) -> dict:
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    return load_checkpoint(path)


def load(params: TimmParams, offline: bool):
    import timm
    from timm.data import create_transform, resolve_model_data_config

    from ..loaded import LoadedModel

    check(params, offline)
    try:
        module = timm.create_model(params.name, pretrained=not params.file and not offline, **params.kwargs)
    except TypeError as exc:
        raise ConfigError(f"kwargs: timm.create_model({params.name!r}) refuses them ({exc})") from None
    except Exception as exc:  # hub downloads fail in many ways
        raise WeightsUnavailable(f"timm {params.name}: pretrained weights unavailable ({type(exc).__name__}); "
                                 f"set models.<key>.file to a local weight file ({OFFLINE_DEMO_HINT})") from None
    if params.file:
        path = local_weight_file(params.file)
        load_state_dict_checked(module, load_weights(path), path)
        weights_id, origin = f"timm:{params.name}:{file_id(path)}", f"weights from {path.name}"
    elif offline:
        raise WeightsUnavailable(f"timm {params.name}: offline and no models.<key>.file; give a local weight file")
    else:
        weights_id, origin = f"timm:{params.name}:pretrained:{module.pretrained_cfg.get('tag', '')}", "timm's pretrained weights"
    if params.kwargs:
        weights_id += ":" + ",".join(f"{k}={v}" for k, v in sorted(params.kwargs.items()))
    config = resolve_model_data_config(module)
    source = "timm resolve_model_data_config + create_transform(is_training=False)"
    if "img_size" in params.kwargs:
        size = params.kwargs["img_size"]
        config["input_size"] = (3, *(size if isinstance(size, (list, tuple)) else (size, size)))
        source += f"; input size from kwargs img_size = {size}"
    preprocess = preprocess_from_transform(create_transform(**config, is_training=False), f"timm {params.name}")
    # The config's own numbers (the transform holds them as float32 tensors: 0.485 would read 0.48500001).
    preprocess = replace(preprocess, mean=tuple(float(v) for v in config["mean"]), std=tuple(float(v) for v in config["std"]))
    num_classes = module.num_classes
    wnids, names = imagenet_names(num_classes)
    if params.class_names:
        names, wnids = read_class_names(params.class_names, "class_names"), []
    if len(names) != num_classes:
        raise ConfigError(f"class_names: {len(names)} names for {num_classes} outputs of timm {params.name}; "
                          "give a file with one name per output, in output order")
    return LoadedModel(
        module=module.eval(), preprocess=preprocess, class_names=names, weights_id=weights_id,
        description=f"timm {params.name}, {origin}", wnids=wnids, preprocess_source=source,
        prefix_tokens=getattr(module, "num_prefix_tokens", None),
        channels_last=getattr(module, "output_fmt", "NCHW") == "NHWC",
        default_layer=default_layer(module) or last_stage(module),
    )


SOURCE = Source("timm", TimmParams, load, check)
