"""What a page producer yields: a Markdown page to render or a generated file (a figure) to write.

Its own module so that ``site`` (which renders them) and the section producers (which yield them) import it
and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Page:
    path: str
    """Relative to the docs folder, always built from slugs and fixed names."""
    template: str
    context: dict


@dataclass
class Asset:
    """A generated file (a figure) next to the pages; ``make`` runs only when rendering."""

    path: str
    make: Callable[[], bytes]
