"""Weight files: where they live, how they are fetched, how they are loaded safely.

Weights are never fetched silently from an unreachable hub: with ``offline=True`` (or when the network
fails) a missing file raises :class:`WeightsUnavailable` naming the file, its URL and the folder to put it in.
All checkpoints load with ``torch.load(..., weights_only=True)``, which refuses pickled code.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..errors import BadInput, WeightsUnavailable

OFFLINE_DEMO_HINT = "no internet? run the offline demo: xai-report build --study studies/offline.toml"
DOWNLOAD_TIMEOUT_S = 30


def hub_checkpoint_dir() -> Path:
    """The standard torch hub cache folder (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_weight_file(url: str, folder: Path, offline: bool, filename: str | None = None) -> Path:
    """Return the local path of ``url``'s file in ``folder``, downloading it unless offline.

    A download goes to a temp file in the same folder and is renamed only when complete, so a cut-off
    download never leaves a partial file where a later run would trust it.
    """
    name = filename or url.rsplit("/", 1)[-1]
    path = folder / name
    if path.is_file():
        return path
    hint = f"weight file {name} is missing: download {url} into {folder}/ ({OFFLINE_DEMO_HINT})"
    if offline:
        raise WeightsUnavailable(hint)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    os.close(fd)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(url, tmp, hash_prefix=_hash_prefix(name), progress=True)
        torch.load(tmp, map_location="cpu", weights_only=True)  # a cut-off download fails here, not later
        os.replace(tmp, path)
    except Exception as exc:  # network errors come in many types (URLError, timeout, SSL, HTTP)
        raise WeightsUnavailable(f"{hint}; the download failed: {type(exc).__name__}") from None
    finally:
        socket.setdefaulttimeout(old_timeout)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _hash_prefix(name: str) -> str | None:
    """The SHA-256 prefix that torchvision puts in its file names (``resnet50-11ad3fa6.pth``), if any."""
    match = re.search(r"-([a-f0-9]{8,})\.", name)
    return match.group(1) if match else None


def local_weight_file(file: str) -> Path:
    """A weight file the study names with ``models.<key>.file`` (the config made the path absolute)."""
    path = Path(file)
    if not path.is_file():
        raise WeightsUnavailable(f"weight file {path} does not exist; fix models.file in the study config")
    return path


def host_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (DNS failure answers at once)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_checkpoint(path: Path) -> dict:
    """Load a state dict safely (``weights_only=True``), with a one-line error for unusable files.

    A ``{'state_dict': ...}`` wrapper (CSAIL's checkpoints) is unwrapped and the ``module.`` prefix that
    ``DataParallel`` adds to every key is stripped.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BadInput(
            f"{path}: not a loadable PyTorch checkpoint ({type(exc).__name__}); delete it and download it again"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise BadInput(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items()}


def load_state_dict_checked(module: nn.Module, state: dict, path: Path | str) -> None:
    """``load_state_dict`` with a one-line error naming the file when shapes or keys do not match."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise BadInput(f"{path}: checkpoint does not fit the architecture ({detail})") from None


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (weight files run to hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
