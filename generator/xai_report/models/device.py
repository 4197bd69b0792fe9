"""The one device convention: ``Stage`` calls :func:`pick_device` once with the study's ``device`` and passes
the result down; nothing in ``models`` picks a device of its own (loaders return CPU modules)."""

from __future__ import annotations

import torch

from ..errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use device = \"auto\" or \"cpu\"")
    return torch.device(name)
