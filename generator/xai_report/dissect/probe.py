"""The probe set: the images whose activations and CLIP features CLIP-Dissect compares.

Images are listed folder by folder in config order. A byte-identical copy is skipped (it would count twice
among a neuron's top images, weighting that image double in soft-WPMI), and so is a file that cannot be read
or decoded; each skip carries a one-line reason for the build summary and the methodology page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from PIL import Image

from ..data import list_images, load_rgb
from ..errors import BadInput
from ..store import bytes_sha256, canonical_json
from ..text import display_name


@dataclass(frozen=True)
class ProbeImage:
    path: Path
    name: str
    """``<folder>/<file>``, printable (a non-UTF-8 byte becomes U+FFFD)."""
    sha256: str


def list_probe(folders: Sequence[str]) -> tuple[list[ProbeImage], list[dict]]:
    """Probe images of every folder (absolute paths, as the config resolves them), and the skipped files."""
    images, skipped, seen = [], [], {}
    for folder_name in folders:
        folder = Path(folder_name)
        for path in list_images(folder):
            name = f"{display_name(folder)}/{display_name(path)}"
            try:
                sha = bytes_sha256(path.read_bytes())
            except OSError as exc:
                skipped.append({"file": name, "reason": f"cannot be read ({exc.strerror})"})
                continue
            if sha in seen:
                skipped.append({"file": name, "reason": f"same bytes as {seen[sha]}; a copy would count twice"})
                continue
            seen[sha] = name
            images.append(ProbeImage(path, name, sha))
    return images, skipped


def decode(batch: Sequence[ProbeImage], skipped: list[dict]) -> list[tuple[ProbeImage, Image.Image]]:
    """The images of ``batch`` that decode, as RGB; each one that does not is added to ``skipped``."""
    decoded = []
    for img in batch:
        try:
            decoded.append((img, load_rgb(img.path)))
        except BadInput as exc:
            reason = str(exc)
            prefix = f"{display_name(img.path)}: "
            skipped.append({"file": img.name, "reason": reason[len(prefix):] if reason.startswith(prefix) else reason})
    return decoded


def probe_sha(probe: Sequence[ProbeImage]) -> str:
    """The probe set's identity: the hash of its images' hashes in order (part of the label cache keys)."""
    return bytes_sha256(canonical_json([img.sha256 for img in probe]).encode())


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """``items`` in consecutive slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
