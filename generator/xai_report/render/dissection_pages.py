"""Pages of the dissection section: the overview, one page per model, one neuron gallery per layer, the model
comparison, and their figures.

The overview (``dissection/index.md``, through ``dissection_index.md.j2``, which includes
``dissection_overview.md.j2``) is written even when dissection did not run, to say so. Page paths are built
from slugs only (model keys and layer names as the stage slugified them, slugified again here as a second
guard). The sentences come from :mod:`.dissection_text`.
"""

from __future__ import annotations

from typing import Iterator

from ..records import DissectedModel, ModelSummary, Results
from ..text import slugify
from . import links, plots
from .dissection_text import claims, concept_source
from .pages import Asset, Page

TOP_CONCEPTS_FIGURE = 20


def _slug(value: str) -> str:
    return slugify(str(value)).lower()


def _plain(label: str) -> str:
    """A concept as matplotlib text: ``$`` would start mathtext (a word like ``$5`` must stay literal)."""
    return str(label).replace("$", r"\$")


def _figures(model: DissectedModel, slug: str) -> tuple[dict[str, str], list[Asset]]:
    summary = model.summary
    top = summary.top_concepts[:TOP_CONCEPTS_FIGURE]
    hist = summary.count_histogram
    paths = {"concepts": f"assets/figures/dissection/{slug}_concepts.png",
             "histogram": f"assets/figures/dissection/{slug}_histogram.png"}
    assets = []
    if top:
        assets.append(Asset(paths["concepts"], lambda: plots.bar_counts(
            [_plain(c.label) for c in top], [c.neurons for c in top],
            f"{_plain(model.label)}: most frequent labels")))
    if hist:
        assets.append(Asset(paths["histogram"], lambda: plots.bar_counts(
            [f"{m} neuron{'s' if m != 1 else ''}" for m, _ in hist], [k for _, k in hist],
            "Concepts by the number of neurons they label", xlabel="concepts")))
    return {k: v for k, v in paths.items() if (k == "concepts" and top) or (k == "histogram" and hist)}, assets


def _category_shares(summary: ModelSummary) -> list[dict]:
    """The model's categories with each one's share of its neurons (the page's "Share" column)."""
    return [{"category": c.category, "neurons": c.neurons, "share": c.neurons / summary.neurons}
            for c in summary.categories]


def dissection_pages(results: Results, timings: dict) -> Iterator[Page | Asset]:
    """The overview; with a ``dissection`` section, model pages, layer galleries, figures and the comparison."""
    section = results.dissection
    claimed = claims(section)
    source = concept_source(section) if section else ""
    yield Page("dissection/index.md", "dissection_index.md.j2", {"dis": section, "claims": claimed, "source": source})
    if not section:
        return
    unit_images = links.unit_images(results)
    for model in section.models:
        slug = _slug(model.slug)  # a copy with the slugs of the page paths (slugified again: the second guard)
        model = model.model_copy(update={"slug": slug, "layers": [layer.model_copy(update={"slug": _slug(layer.slug)})
                                                                  for layer in model.layers]})
        figures, assets = _figures(model, slug)
        yield from assets
        common = {"dis": section, "model": model, "source": source}
        yield Page(f"dissection/{slug}/index.md", "dissection_model.md.j2",
                   {**common, "figures": figures, "categories": _category_shares(model.summary)})
        for layer in model.layers:
            yield Page(f"dissection/{slug}/{layer.slug}.md", "dissection_layer.md.j2",
                       {**common, "layer": layer,
                        "layer_images": unit_images.get(model.key, {}).get(layer.name, {})})
    if section.comparisons:
        yield Page("dissection/compare.md", "dissection_compare.md.j2", {"dis": section, "claims": claimed,
                                                                         "source": source})
