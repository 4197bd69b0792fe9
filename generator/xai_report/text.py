"""Text that is safe to print and write: file names from any file system become valid UTF-8."""

from __future__ import annotations

import re
from pathlib import Path

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_WNID_PREFIX = re.compile(r"^n\d{8}[_-]")


def printable(value: object) -> str:
    """Text that can be written as UTF-8: bytes of a non-UTF-8 file name (surrogates) become U+FFFD."""
    text = str(value)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def display_name(path: Path) -> str:
    """The file name as printable text: bytes that are not UTF-8 (a Latin-1 name on Linux) become U+FFFD."""
    return printable(path.name)


def image_title(path: Path) -> str:
    """A readable title from the file name: ``n01443537_goldfish.JPEG`` -> ``goldfish``."""
    return _WNID_PREFIX.sub("", path.stem).replace("_", " ").strip() or path.stem


def slugify(name: str) -> str:
    """A file-name-safe page id: letters, digits, ``_`` and ``-`` only (never a path)."""
    slug = _SLUG_UNSAFE.sub("-", name).strip("-_")
    return slug[:80] or "image"


def unique_slug(name: str, taken: set[str]) -> str:
    """A lower-case page id for ``name`` that is not in ``taken`` (``layer4[-1]`` and ``layer4.1`` both
    slugify to ``layer4-1``; the second becomes ``layer4-1-2``); adds it to ``taken``."""
    base = slugify(name).lower()
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug
