"""The study config: one TOML file -> typed, validated objects.

Every check runs before any compute starts, and every failure is one line naming the key, what was
found and what is allowed. Relative paths resolve against the folder of the study file.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from .errors import ConfigError
from .paths import STUDIES_DIR

DEFAULT_STUDY = STUDIES_DIR / "default.toml"


@dataclass
class ModelSpec:
    """A classifier; ``source`` picks the loader in ``models.MODEL_SOURCES``."""

    source: str
    name: str = ""
    weights: str = "DEFAULT"
    arch: str = ""
    file: str = ""
    class_names: str = ""
    label: str = ""
    """Human-readable name for pages; defaults to the model key."""

    def loader_spec(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in ("", None)}


@dataclass
class LimeParams:
    """LIME (Ribeiro et al., KDD 2016) with the ``lime`` package's image explainer."""

    num_samples: int = 1000
    num_features: int = 5
    batch_size: int = 100
    kernel_size: float = 4.0
    max_dist: float = 200.0
    ratio: float = 0.2


@dataclass
class AttributionConfig:
    enabled: bool = True
    model: str = ""
    images: str = "data/images"
    layer: str = "layer4[-1]"
    target: Union[str, int] = "predicted"
    methods: list[str] = field(default_factory=lambda: ["gradcam", "ablationcam", "scorecam", "lime"])
    batch_size: int = 32
    lime: LimeParams = field(default_factory=LimeParams)
    metrics: bool = True
    deletion_steps: int = 20


@dataclass
class ClipSpec:
    arch: str = "ViT-B-16"
    pretrained: str = "openai"
    file: str = ""


@dataclass
class DissectionConfig:
    enabled: bool = False
    models: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=lambda: ["layer3", "layer4", "fc"])
    probe: list[str] = field(default_factory=lambda: ["data/probe/imagenet-samples", "data/probe/scenes"])
    concepts: str = "data/concepts/20k.txt"
    pool: str = "mean"
    top_k: int = 100
    batch_size: int = 64
    strip_images: int = 5
    clip: ClipSpec = field(default_factory=ClipSpec)


@dataclass
class Study:
    title: str = "xai-report study"
    description: str = ""
    seed: int = 0
    device: str = "auto"
    offline: bool = False
    output_dir: str = "output/default"
    site_dir: str = "site_src"
    benchmarks: str = ""
    """Folder of ``benchmarks/bench.py --json`` results shown on the methodology page (optional)."""
    models: dict[str, ModelSpec] = field(default_factory=dict)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    dissection: DissectionConfig = field(default_factory=DissectionConfig)
    base_dir: Path = field(default=Path("."), metadata={"internal": True})
    source_file: str = field(default="", metadata={"internal": True})

    def path(self, value: str) -> Path:
        """Resolve a path from the config against the study file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def output_path(self) -> Path:
        return self.path(self.output_dir)

    @property
    def site_path(self) -> Path:
        return self.path(self.site_dir)


# ---------------------------------------------------------------------------------------------
# generic typed conversion


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "table"
    if dataclasses.is_dataclass(tp):
        return "table"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, found {type(value).__name__}")
        return _build(tp, value, where)
    if origin is Union:
        for arg in typing.get_args(tp):
            try:
                return _convert(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(tp)}, found {type(value).__name__} {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, found {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, found {type(value).__name__}")
        _, item = typing.get_args(tp)
        return {k: _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, found bool {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, found {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    public = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for key in data:
        if key not in public:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"unknown key {prefix}{key}; allowed: {', '.join(public)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or 'study'}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# loading and semantic checks


def load_study(path: str | Path | None = None) -> Study:
    """Read and validate a study file (the built-in default study when ``path`` is None)."""
    file = Path(path) if path is not None else DEFAULT_STUDY
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: study file not found; pass an existing file to --study") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML ({exc}); fix the syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text; save the study file as UTF-8") from None
    try:
        study = _build(Study, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{file.name}: {exc}") from None
    study.base_dir = file.resolve().parent
    study.source_file = str(file)
    resolve_paths(study)
    try:
        validate(study)
    except ConfigError as exc:
        raise ConfigError(f"{file.name}: {exc}") from None
    return study


def resolve_paths(study: Study) -> None:
    """Make every path of the config absolute (relative ones are relative to the study file), once, so that
    no stage resolves a path itself."""
    for spec in study.models.values():
        if spec.file:
            spec.file = str(study.path(spec.file))
    att, dis = study.attribution, study.dissection
    att.images = str(study.path(att.images))
    dis.probe = [str(study.path(folder)) for folder in dis.probe]
    dis.concepts = str(study.path(dis.concepts))
    if dis.clip.file:
        dis.clip.file = str(study.path(dis.clip.file))
    if study.benchmarks:
        study.benchmarks = str(study.path(study.benchmarks))


def validate(study: Study) -> None:
    """Semantic checks that need more than types: references, files, registries."""
    from .attribution.methods import METHODS
    from .models import MODEL_SOURCES

    if study.device != "auto" and not (study.device == "cpu" or study.device.startswith("cuda")):
        raise ConfigError(f"device: {study.device!r} is not allowed; use auto, cpu or cuda[:N]")
    for key, spec in study.models.items():
        if spec.source not in MODEL_SOURCES:
            raise ConfigError(f"models.{key}.source: unknown {spec.source!r}; allowed: {', '.join(MODEL_SOURCES)}")
        if spec.source == "local" and not spec.file:
            raise ConfigError(f"models.{key}.file: required for source = \"local\"")
        if spec.file and not study.path(spec.file).is_file() and spec.source == "local":
            raise ConfigError(f"models.{key}.file: {study.path(spec.file)} does not exist")
        _validate_model_names(key, spec)
    if study.benchmarks and not study.path(study.benchmarks).is_dir():
        raise ConfigError(f"benchmarks: folder {study.path(study.benchmarks)} does not exist; fix the path or remove the key")
    att = study.attribution
    if att.enabled:
        if att.model not in study.models:
            raise ConfigError(f"attribution.model: {att.model!r} is not defined; defined models: {', '.join(study.models) or 'none'}")
        if not study.path(att.images).is_dir():
            raise ConfigError(f"attribution.images: folder {study.path(att.images)} does not exist")
        if not att.methods:
            raise ConfigError("attribution.methods: empty; allowed: " + ", ".join(METHODS))
        for m in att.methods:
            if m not in METHODS:
                raise ConfigError(f"attribution.methods: unknown method {m!r}; allowed: {', '.join(METHODS)}")
        if isinstance(att.target, str) and att.target not in ("predicted", "label"):
            raise ConfigError(f"attribution.target: {att.target!r}; allowed: \"predicted\", \"label\" or a class index")
        if isinstance(att.target, int) and att.target < 0:
            raise ConfigError(f"attribution.target: {att.target} is negative; class indices start at 0")
        for name in ("batch_size", "deletion_steps"):
            if getattr(att, name) < 1:
                raise ConfigError(f"attribution.{name}: must be at least 1")
        if att.lime.num_samples < 10 or att.lime.num_features < 1 or att.lime.batch_size < 1:
            raise ConfigError("attribution.lime: num_samples >= 10, num_features >= 1 and batch_size >= 1 are required")
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
        if not study.path(dis.concepts).is_file():
            raise ConfigError(f"dissection.concepts: file {study.path(dis.concepts)} does not exist")
        if dis.pool not in ("mean", "max"):
            raise ConfigError(f"dissection.pool: {dis.pool!r}; allowed: mean, max")
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
