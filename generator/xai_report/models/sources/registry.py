"""The registry of the model sources of this package: ``REGISTRY`` (name -> :class:`.base.Source`) and ``SOURCES``
(loaders in ``MODEL_SOURCES``'s form)."""

from __future__ import annotations

from typing import Callable

from .base import Source


def _registry() -> dict[str, Source]:
    from .huggingface import SOURCE as HUGGINGFACE
    from .memory import SOURCE as MEMORY
    from .python_entry import SOURCE as PYTHON_ENTRY
    from .timm import SOURCE as TIMM

    return {s.name: s for s in (TIMM, HUGGINGFACE, PYTHON_ENTRY, MEMORY)}


REGISTRY: dict[str, Source] = _registry()
SOURCES: dict[str, Callable] = {
    name: (lambda spec, offline, _s=source: _s.load(_s.params.model_validate(
        {k: v for k, v in spec.items() if k in _s.params.model_fields}), offline))
    for name, source in REGISTRY.items()
}
"""Loaders in ``MODEL_SOURCES``'s form: ``load(spec dict, offline) -> LoadedModel``."""
