"""CLIP models to label neurons with (for CLIP-Dissect), through open_clip."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from torch import nn

from ..errors import BadInput, ConfigError, WeightsUnavailable
from .weights import OFFLINE_DEMO_HINT, file_sha256, host_reachable


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """Switch huggingface_hub to cache-only for one call (it reads HF_HUB_OFFLINE once, at import)."""
    from huggingface_hub import constants

    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = old or offline
    root = logging.getLogger()
    root_was = root.disabled
    root.disabled = True  # open_clip logs a download failure at ERROR level; ours is the one-line message
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old
        root.disabled = root_was


@dataclass
class LoadedClip:
    """An open_clip model (CPU, eval mode) with its image preprocessing, tokenizer and an id for cache keys."""

    model: nn.Module
    preprocess: Callable
    tokenizer: Callable
    clip_id: str


def load_clip(arch: str, pretrained: str, file: str = "", offline: bool = False) -> LoadedClip:
    """An open_clip model (Radford et al., "Learning Transferable Visual Models From Natural Language
    Supervision", ICML 2021) by architecture and pretrained tag, or from a local weight file.

    Weights come from the Hugging Face cache (open_clip's default hub); offline, a missing file raises
    :class:`WeightsUnavailable` naming the repository file, the URL and the cache folder.
    """
    import open_clip

    if arch not in open_clip.list_models():
        raise ConfigError(f"dissection.clip.arch: unknown open_clip architecture {arch!r}; see open_clip.list_models()")
    if file:
        path = Path(file)
        if not path.is_file():
            raise WeightsUnavailable(f"CLIP weight file {path} does not exist; fix dissection.clip.file")
        source, clip_id = str(path), f"open_clip:{arch}:file:{file_sha256(path)[:16]}"
    else:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if pretrained not in tags:
            raise ConfigError(f"dissection.clip.pretrained: {pretrained!r} is not a tag of {arch}; allowed: {', '.join(tags)}")
        source, clip_id = pretrained, f"open_clip:{arch}:{pretrained}"
    # OpenAI's CLIP was trained with QuickGELU, but open_clip's plain "ViT-B-16" config builds nn.GELU and
    # only warns when loading the openai tag: follow the tag's own setting (a local file gets the tag's too).
    quick_gelu = bool(open_clip.get_pretrained_cfg(arch, pretrained).get("quick_gelu", False))
    if quick_gelu:
        clip_id += ":quickgelu"
    # An unreachable hub makes huggingface_hub retry for minutes; probe once and go cache-only instead.
    offline = offline or not host_reachable("huggingface.co")
    try:
        with _hub_offline(offline):
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=source, weights_only=True,
                                                                         force_quick_gelu=quick_gelu)
    except Exception as exc:  # hub errors come in many types; all mean "the file is not here"
        if file:
            raise BadInput(f"{file}: cannot load CLIP weights for {arch} ({type(exc).__name__})") from None
        cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        hub = cfg.get("hf_hub", "")
        where = f"https://huggingface.co/{hub.rstrip('/')}" if hub else cfg.get("url", "")
        cache = os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
        raise WeightsUnavailable(
            f"CLIP weights {arch}/{pretrained} are missing: download them from {where} into the Hugging Face "
            f"cache ({cache}/hub) on a connected machine, or set dissection.clip.file to a local copy "
            f"({OFFLINE_DEMO_HINT})"
        ) from None
    return LoadedClip(model.eval(), preprocess, open_clip.get_tokenizer(arch), clip_id)
