"""What goes next to the pages besides Markdown: the pictures and raw results they show, our stylesheet and
table script, and the ``mkdocs.yml`` that builds them.

Everything copied mirrors the study's output folder under ``assets/`` (``overlays/x.jpg`` ->
``assets/overlays/x.jpg``), so a page links a raw result by the same relative path ``results.json`` gives.
With ``publish_raw`` the raw maps (``.npy``), segments, ``results.json`` itself and its JSON Schema
``results.schema.json`` are copied too, so the published site carries the numbers its pages cite (GitHub Pages
serves nothing else).
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Iterator

from ..config import Study
from ..paths import ASSETS_DIR, TEMPLATES_DIR
from ..records import Results
from ..results import RESULTS_FILE, SCHEMA_FILE
from ..store import write_atomic
from . import links, scale_site
from .markdown import Safe, environment

MKDOCS_MARKER = "# Written by xai-report render"
"""First line of a ``mkdocs.yml`` that render owns (and rewrites); a file without it is the user's, left alone."""
STATIC_FILES = ("stylesheets/extra.css", "javascripts/xai-report.js")
"""Hand-written files of the site (package data, :data:`~xai_report.paths.ASSETS_DIR`) that the generated
``mkdocs.yml`` names."""


def copy_if_changed(src: Path, dst: Path, site: Path) -> str:
    """Copy ``src`` to ``dst`` unless it already holds the same bytes; returns ``dst`` relative to ``site``."""
    if not (dst.is_file() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes()):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return dst.relative_to(site).as_posix()


def _images(results: Results):
    return results.attribution.images if results.attribution else []


def _shown_files(results: Results) -> Iterator[str]:
    """Output-relative paths of the pictures the pages show: every ``overlays/`` file an image record names (photo,
    each method's overlay, unit maps, ...), the strips and the dissection CSVs."""
    for record in _images(results):
        yield from (v for v in record.files() if v.startswith("overlays/"))
    yield from (results.dissection.assets if results.dissection else [])


def raw_files(results: Results) -> Iterator[str]:
    """Output-relative paths of the raw arrays of every image (every ``maps/*.npy`` its record names: each
    method's map, LIME's segments, any array a method or measure adds), then ``results.json`` and its schema."""
    for record in _images(results):
        yield from (v for v in record.files() if v.startswith("maps/") and v.endswith(".npy"))
    yield RESULTS_FILE
    yield SCHEMA_FILE


def copy_assets(study: Study, results: Results, site: Path) -> list[str]:
    """Copy what the pages show (and, with ``publish_raw``, the raw results) under ``site/assets``; returns the
    copied paths relative to the site."""
    raw = list(raw_files(results)) if study.publish_raw else []
    if raw and scale_site.is_large(results.attribution):
        raw = [RESULTS_FILE, SCHEMA_FILE]  # the maps go into one archive per method (scale_site.write_files)
    files = list(_shown_files(results)) + raw
    return [copy_if_changed(study.output_path / rel, site / "assets" / rel, site) for rel in dict.fromkeys(files)]


def _yaml_string(value: str) -> Safe:
    # JSON strings are YAML strings; ensure_ascii off, since YAML reads JSON's surrogate-pair escapes of an
    # emoji as two unwritable characters.
    return Safe(json.dumps(value, ensure_ascii=False))


def print_excluded(results: Results | None) -> list[str]:
    """Pages left out of the single-file report: the neuron galleries (one card per neuron, thousands of strips
    in all, would make it hundreds of pages); the model pages summarise them and link the site's galleries."""
    return sorted(links.layer_pages(results).values())


def ensure_mkdocs_yml(study: Study, results: Results | None = None, pages: list[str] | None = None) -> Path:
    """Write the ``mkdocs.yml`` beside the docs folder from the study (title, ``site_url``, ``repo_url``) and its
    results (the pages the single-file report leaves out) when there is none or render wrote the one there; a
    hand-written one (no marker line) stays as it is. A large study (:mod:`.scale_site`) gets a ``nav`` of
    ``pages`` without the image pages. Copy our stylesheet and page script into the docs folder
    when they are missing."""
    site = study.site_path
    config = site.parent / "mkdocs.yml"
    if not config.is_file() or config.read_text(encoding="utf-8").startswith(MKDOCS_MARKER):
        env = environment(TEMPLATES_DIR)
        # Material prints site_name unescaped (in <title>, the header, aria-label): escape it here.
        text = env.get_template("mkdocs.yml.j2").render(
            site_name=_yaml_string(html.escape(study.title, quote=True)), docs_dir=_yaml_string(site.name),
            site_url=_yaml_string(study.site_url) if study.site_url else "",
            repo_url=_yaml_string(study.repo_url) if study.repo_url else "",
            print_exclude=[_yaml_string(p) for p in print_excluded(results)],
            nav=Safe(json.dumps(scale_site.nav(pages))) if pages and scale_site.is_large(results.attribution if results else None) else "")
        if not (config.is_file() and config.read_text(encoding="utf-8") == text):
            write_atomic(config, text)
    for rel in STATIC_FILES:
        target = site / rel
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ASSETS_DIR / rel, target)
    return config
