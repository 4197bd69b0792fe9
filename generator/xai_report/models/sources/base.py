"""What every model source of :mod:`.` shares: its parameter model, its registry entry, one-line checks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from ...errors import ConfigError

COMMON_KEYS = ("source", "label", "preprocess")
"""Keys every source takes (checked by the study schema): not part of a source's own parameters."""


class SourceParams(BaseModel):
    """A source's own keys of ``[models.<key>]``; unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class Source:
    name: str
    params: type[SourceParams]
    load: Callable
    """``load(params, offline) -> LoadedModel``."""
    check: Callable[[SourceParams, bool], None] | None = None
    """Checks that need no weights (``xai-report check``): ``check(params, offline)``; raises ConfigError."""


def check_params(key: str, source: Source, given: dict) -> SourceParams:
    """``given`` (the keys the study sets) as ``source``'s parameters; ConfigError naming ``models.<key>.<field>``."""
    own = {k: v for k, v in given.items() if k not in COMMON_KEYS}
    try:
        params = source.params.model_validate(own)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        allowed = ", ".join(source.params.model_fields)
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"models.{key}.{field}: not a key of source = \"{source.name}\"; allowed: {allowed}") from None
        if err["type"] == "missing":
            raise ConfigError(f"models.{key}.{field}: required for source = \"{source.name}\"") from None
        raise ConfigError(f"models.{key}.{field}: {err['msg']}") from None
    if source.check is not None:
        try:
            source.check(params, False)
        except ConfigError as exc:
            raise ConfigError(f"models.{key}.{exc}") from None
    return params


def closest(name: str, names: list[str], n: int = 5) -> str:
    """The names closest to ``name``, for one-line errors ("closest: a, b, c")."""
    found = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    return ", ".join(found) if found else "none close"


def read_class_names(path: str, where: str) -> list[str]:
    """Class names from a text file, one a line in output order (blank lines skipped)."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{where}: file {file} does not exist")
    return [c.strip() for c in file.read_text(encoding="utf-8-sig").splitlines() if c.strip()]
