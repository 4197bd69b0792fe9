"""Pages of the dissection section: one per model, one neuron gallery per layer, the model comparison.

The overview (``dissection/index.md``) is rendered by ``site._dissection_pages`` through
``dissection_index.md.j2``, which includes ``dissection_overview.md.j2``. Page paths are built from slugs
only (model keys and layer names as the stage slugified them, slugified again here as a second guard).
"""

from __future__ import annotations

from typing import Iterator

from ..attribution.stage import slugify
from . import plots
from .site import Asset, Page

TOP_CONCEPTS_FIGURE = 20


def _slug(value: str) -> str:
    return slugify(str(value)).lower()


def _plain(label: str) -> str:
    """A concept as matplotlib text: ``$`` would start mathtext (a word like ``$5`` must stay literal)."""
    return str(label).replace("$", r"\$")


def _figures(model: dict, slug: str) -> tuple[dict[str, str], list[Asset]]:
    summary = model["summary"]
    top = summary["top_concepts"][:TOP_CONCEPTS_FIGURE]
    hist = summary["count_histogram"]
    paths = {"concepts": f"assets/figures/dissection/{slug}_concepts.png",
             "histogram": f"assets/figures/dissection/{slug}_histogram.png"}
    assets = []
    if top:
        assets.append(Asset(paths["concepts"], lambda: plots.bar_counts(
            [_plain(c["label"]) for c in top], [c["neurons"] for c in top],
            f"{_plain(model['label'])}: most frequent labels")))
    if hist:
        assets.append(Asset(paths["histogram"], lambda: plots.bar_counts(
            [f"{m} neuron{'s' if m != 1 else ''}" for m, _ in hist], [k for _, k in hist],
            "Concepts by the number of neurons they label", xlabel="concepts")))
    return {k: v for k, v in paths.items() if (k == "concepts" and top) or (k == "histogram" and hist)}, assets


def dissection_pages(section: dict) -> Iterator[Page | Asset]:
    """Model pages, layer galleries, figures and the comparison page of a ``dissection`` section."""
    for model in section["models"]:
        slug = _slug(model["slug"])
        model = {**model, "slug": slug, "layers": [{**layer, "slug": _slug(layer["slug"])} for layer in model["layers"]]}
        figures, assets = _figures(model, slug)
        yield from assets
        common = {"dis": section, "model": model}
        yield Page(f"dissection/{slug}/index.md", "dissection_model.md.j2", {**common, "figures": figures})
        for layer in model["layers"]:
            yield Page(f"dissection/{slug}/{layer['slug']}.md", "dissection_layer.md.j2", {**common, "layer": layer})
    if section.get("comparisons"):
        yield Page("dissection/compare.md", "dissection_compare.md.j2", {"dis": section})
