"""The study config: one TOML file -> typed, validated objects.

Every check runs before any compute starts, and every failure is one line naming the key, what was
found and what is allowed. Relative paths resolve against the folder of the study file, once, at load.

* :mod:`.schema`: the tables (pydantic v2 models, unknown keys and loose types refused);
* :mod:`.messages`: pydantic's errors as our one-line messages;
* :mod:`.checks`: :func:`validate`, the checks that need more than types (references, files, registries).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError
from ..paths import CONCEPTS_DIR, STUDIES_DIR
from .checks import validate
from .messages import one_line
from .schema import (AttributionConfig, ClipSpec, DissectionConfig, ModelSpec, PreprocessSpec,
                     Study)

__all__ = ["DEFAULT_STUDY", "default_study", "AttributionConfig", "ClipSpec", "DissectionConfig", "ModelSpec",
           "PreprocessSpec", "Study", "load_study", "study_from_tables", "resolve_paths", "validate"]

DEFAULT_STUDY = STUDIES_DIR / "default.toml"
"""The original study, in a checkout of the repository."""
OWN_STUDY = "study.toml"
"""The study file ``xai-report init`` writes: the default outside a checkout (a wheel has no demo studies)."""
PACKAGED_TABLES = ("concepts", "wordnet_classes", "wordnet_ancestors")
"""``[dissection]`` keys whose default is a table the package ships (:data:`~xai_report.paths.CONCEPTS_DIR`)."""


def default_study() -> Path:
    """The study a command reads without ``--study``: the checkout's original study, else ``./study.toml``."""
    return DEFAULT_STUDY if DEFAULT_STUDY.is_file() else Path(OWN_STUDY)


def load_study(path: str | Path | None = None, kind: type[Study] = Study) -> Study:
    """Read and validate a study file (:func:`default_study` when ``path`` is None) as a ``kind``."""
    file = Path(path) if path is not None else default_study()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: study file not found; pass an existing file to --study") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML ({exc}); fix the syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text; save the study file as UTF-8") from None
    return study_from_tables(raw, file, kind)


def study_from_tables(raw: dict, file: Path, kind: type[Study] = Study) -> Study:
    """The study that ``raw`` (a study file's tables, as TOML gives them) makes when read from ``file``: the same
    validation and one-line errors as a file (relative paths resolve against ``file``'s folder)."""
    try:
        study = kind.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{file.name}: {one_line(exc, raw)}") from None
    study.set_source(file)
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
        if spec.class_names:
            spec.class_names = str(study.path(spec.class_names))
        if spec.source == "huggingface" and spec.name and (study.path(spec.name).is_dir()
                                                            or not re.fullmatch(r"[\w.-]+/[\w.-]+", spec.name)):
            spec.name = str(study.path(spec.name))  # a local folder; otherwise a hub id
        if spec.source == "python" and ".py:" in spec.entry:
            file, _, func = spec.entry.rpartition(":")
            spec.entry = f"{study.path(file)}:{func}"
    att, dis = study.attribution, study.dissection
    att.images = str(study.path(att.images))
    dis.probe = [str(study.path(folder)) for folder in dis.probe]
    for key in PACKAGED_TABLES:  # unset: the package's own table, wherever the study file is
        value = getattr(dis, key)
        setattr(dis, key, str(study.path(value) if key in dis.model_fields_set else CONCEPTS_DIR / Path(value).name))
    if dis.clip.file:
        dis.clip.file = str(study.path(dis.clip.file))
    if study.benchmarks:
        study.benchmarks = str(study.path(study.benchmarks))
    if att.boxes:
        att.boxes = str(study.path(att.boxes))
    if att.labels:
        att.labels = str(study.path(att.labels))
    if study.claims:
        study.claims = str(study.path(study.claims))
