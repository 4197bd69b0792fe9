"""Pydantic's ``ValidationError`` as our one line: ``key.path: expected X, found Y`` or
``unknown key key.path; allowed: ...``.

The error's location is followed through the models (for the key path and the expected type, named as a
study file's author knows them: int, str, list of str, table) and through the raw TOML data (for what was
found), so the message does not depend on pydantic's own wording.
"""

from __future__ import annotations

import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .schema import Study


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin is dict or _is_table(tp):
        return "table"
    return getattr(tp, "__name__", str(tp))


def _is_table(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _unwrap_optional(tp: Any) -> Any:
    """``Optional[X]`` -> ``X`` (TOML has no null, so None is never what the user wrote)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is Union else []
    return args[0] if len(args) == 1 else tp


_MISSING = object()


def _tagged(tp: Any, tag: Any) -> Any:
    """The member of a union of tables whose ``kind`` is ``tag`` (pydantic's name for it in an error), or None."""
    for member in typing.get_args(tp):
        kind = member.model_fields.get("kind") if _is_table(member) else None
        if kind is not None and tag in typing.get_args(kind.annotation):
            return member
    return None


def one_line(exc: ValidationError, raw: dict, root: type[BaseModel] = Study) -> str:
    """The first error of ``exc`` (an unknown key first) as ``key.path: expected X, found Y`` or
    ``unknown key key.path; allowed: ...``, following the error's location through the models and ``raw``."""
    errors = exc.errors()
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    tp, value, where = root, raw, ""  # root: the model of the whole file (a study, or a claims file)
    for part in error["loc"]:
        tp = _unwrap_optional(tp)
        origin = typing.get_origin(tp)
        if _is_table(tp) and isinstance(part, str) and part in tp.model_fields:
            tp, where = tp.model_fields[part].annotation, f"{where}.{part}" if where else part
        elif origin is list and isinstance(part, int):
            tp, where = typing.get_args(tp)[0], f"{where}[{part}]"
        elif origin is dict and isinstance(part, str):
            tp, where = typing.get_args(tp)[1], f"{where}.{part}"
        elif origin is Union and _tagged(tp, part) is not None:
            tp = _tagged(tp, part)  # a table chosen by its ``kind`` (claims' tests): same key, same raw value
            continue
        else:
            break  # an unknown key, or pydantic's name for one member of a union
        value = value.get(part, _MISSING) if isinstance(value, dict) else (
            value[part] if isinstance(value, list) and isinstance(part, int) and part < len(value) else _MISSING)
    if error["type"] == "extra_forbidden":
        key = f"{where}.{error['loc'][-1]}" if where else str(error["loc"][-1])
        return f"unknown key {key}; allowed: {', '.join(_unwrap_optional(tp).model_fields)}"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        ctx = error.get("ctx", {})
        tags = [repr(t) for m in typing.get_args(tp) if _is_table(m) and "kind" in m.model_fields
                for t in typing.get_args(m.model_fields["kind"].annotation)]
        return f"{where}.kind: {'unknown ' + repr(ctx['tag']) if 'tag' in ctx else 'required'}; allowed: {', '.join(tags)}"
    if error["type"] == "missing" or value is _MISSING:
        return f"{where}: required"
    tp = _unwrap_optional(tp)
    found = type(value).__name__
    if _is_table(tp) or typing.get_origin(tp) is dict:
        return f"{where}: expected a table, found {found}"
    if typing.get_origin(tp) is list:
        return f"{where}: expected {_type_name(tp)}, found {found}"
    return f"{where}: expected {_type_name(tp)}, found {found} {value!r}"


def table_parameters(params: type[BaseModel], table: dict, where: str) -> BaseModel:
    """A registry entry's table of the study file (``where``: its key, ``attribution.lime``, ``metrics.road``)
    validated by its parameter model, then its ``check()``; any error as one :class:`ConfigError` line naming the key."""
    try:
        found = params.model_validate(table)
    except ValidationError as exc:
        message = one_line(exc, table, root=params)
        if message.startswith("unknown key "):
            raise ConfigError(f"unknown key {where}.{message.removeprefix('unknown key ')}") from None
        raise ConfigError(f"{where}.{message}") from None
    found.check()
    return found
