"""Optional libraries, installed with the package's extras (``pip install "xai-report[hf]"``).

A method or a model source whose library is missing stops with one line naming the extra that brings it:
:func:`require` imports the library or raises :class:`MissingExtra`. The extras, named for what they bring, are
declared in ``pyproject.toml`` (:data:`EXTRAS` lists them for the messages and the tests).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError

EXTRAS = ("hf", "cluster", "captum", "lrp", "zensical", "all")
"""The optional-dependency groups of ``pyproject.toml`` (besides ``dev``)."""


class MissingExtra(ConfigError):
    """An optional library is not installed; the message names the extra to install."""


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra`` (quoted: shells expand the brackets)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; pyproject.toml declares {', '.join(EXTRAS)}")
    return f'pip install "xai-report[{extra}]"'


def require(module: str, extra: str, needed_by: str = "") -> ModuleType:
    """Import and return ``module`` (e.g. ``"transformers"``); MissingExtra naming ``extra`` when it is missing.

    ``needed_by`` says what needs it, for the message: ``'source = "huggingface"'``, ``"method ig"``.
    """
    hint = install_hint(extra)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:  # the library is there but a dependency of it is not
            raise MissingExtra(f"{needed_by or module} needs {top}, which does not import (missing {exc.name}): "
                               f"{hint}") from None
        raise MissingExtra(f"{needed_by or module} needs {top}, which is not installed: {hint}") from None
