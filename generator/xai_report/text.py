"""Text that is safe to print and write: file names from any file system become valid UTF-8."""

from __future__ import annotations

from pathlib import Path


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
