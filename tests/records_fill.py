"""Hand-made results for tests: a partial ``results.json`` value completed into typed records.

Tests of render and the claims rules state only the fields they are about; :func:`filled` gives every other
required field a neutral value (0, "", [], {}, False, None where the field may be null) and validates the whole
through the records, so a test can never pass a shape ``results.json`` cannot have.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from xai_report.records import Results

T = typing.TypeVar("T", bound=BaseModel)


def _union_args(annotation) -> tuple | None:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return None


def _default(annotation) -> Any:
    args = _union_args(annotation)
    if args is not None:
        return None if type(None) in args else _default(args[0])
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return complete(annotation, {})
    if origin in (list, tuple):
        return []
    if origin is dict:
        return {}
    return {str: "", int: 0, float: 0.0, bool: False}.get(annotation)


def _fill(annotation, value: Any) -> Any:
    args = _union_args(annotation)
    if args is not None:
        if value is None:
            return None
        for option in args:
            if isinstance(value, dict) and (typing.get_origin(option) is dict or
                                            (isinstance(option, type) and issubclass(option, BaseModel))):
                return _fill(option, value)
            if isinstance(value, list) and typing.get_origin(option) in (list, tuple):
                return _fill(option, value)
        return value
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return complete(annotation, value)
    origin, inner = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and inner:
        return [_fill(inner[0], v) for v in value]
    if origin is dict and len(inner) == 2:
        return {k: _fill(inner[1], v) for k, v in value.items()}
    return value


def complete(model: type[BaseModel], data: dict) -> dict:
    """``data`` with every required field of ``model`` that it lacks, nested records completed too."""
    out = dict(data)
    extra = typing.get_type_hints(model).get("__pydantic_extra__")
    names = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        names.add(key)
        if key in out:
            out[key] = _fill(field.annotation, out[key])
        elif field.is_required():
            out[key] = _default(field.annotation)
    if extra is not None:
        value_type = typing.get_args(extra)[1]
        out.update({k: _fill(value_type, v) for k, v in out.items() if k not in names})
    return out


def filled(data: dict, model: type[T] = Results) -> T:
    """``data`` completed (:func:`complete`) and validated as ``model`` (by default the whole results)."""
    if model is Results:
        data = {"study": {}, **data}
    return model.model_validate(complete(model, data))
