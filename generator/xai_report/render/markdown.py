"""Jinja environment for Markdown pages where every value is data, not markup.

Each ``{{ value }}`` is escaped twice over: Markdown's special characters get a backslash (so a file
named ``*bold*`` or a concept ``[x](y)`` stays literal text) and HTML's get entities (so
``<script>`` shows as text). Only values wrapped in :class:`Safe` (built by our own filters) pass as is.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from urllib.parse import quote

import jinja2

from ..text import printable

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|])")
"""Characters Python-Markdown (with our extensions) reads as markup and unescapes after a backslash. ``~``, ``^``
and ``$`` are plain text without pymdownx's tilde, caret and arithmatex, and a backslash before them would show."""


class Safe(str):
    """Markup produced by our own code (links, image references); not escaped again."""


def escape_text(value: object) -> str:
    text = printable(value).replace("\r", " ").replace("\n", " ")
    # MkDocs turns a page's H1 back into raw text for <title>, where "</title>" would end the element and
    # let markup through; a zero-width space after "<" keeps such text inert everywhere.
    text = text.replace("</", "<\u200b/")
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=True)


def _finalize(value: object) -> object:
    if isinstance(value, Safe):
        return value
    if value is None:
        return ""
    return escape_text(value)


def url(value: object) -> Safe:
    """A relative link target, percent-encoded (our paths are slugs; this is the second guard)."""
    return Safe(quote(str(value), safe="/#.-_~"))


def code(value: object) -> Safe:
    """Inline code for data: escaped like text, so ``<`` and ``*`` stay literal inside it."""
    return Safe(f"<code>{escape_text(value)}</code>")


def anchor(value: object) -> Safe:
    """An element id or ``#fragment`` from data: letters, digits and hyphens only (``gradcam++`` -> ``gradcam--``),
    so it is the same in raw HTML, attr_list and a link, and can carry no markup."""
    return Safe(re.sub(r"[^A-Za-z0-9-]", "-", printable(value)).lower())


def attr(value: object) -> Safe:
    """Text for an HTML attribute written through attr_list (a lightbox caption): quotes, braces, angle brackets,
    backslashes and ampersands dropped, since attr_list ends at ``}`` and the lightbox shows the value as HTML."""
    return Safe(re.sub(r"[^\w +\-.,:()%]", "", printable(value).replace("\n", " ")))


def html_text(value: object) -> Safe:
    """Text inside raw HTML, where Markdown does not run (the method picker's labels): HTML-escaped only, so
    ``Grad-CAM++`` stays as it is and ``<script>`` shows as text."""
    return Safe(html.escape(printable(value).replace("\n", " ").replace("\r", " "), quote=True))


def pct(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=False,  # escaping is Markdown-aware, done by _finalize
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(url=url, pct=pct, num=num, code=code, anchor=anchor, attr=attr, html=html_text)
    return env
