"""Permalinks between the two halves of the site: image pages link each unit behind a prediction to its neuron
card (``dissection/<model>/<layer>.md#unit-N``), and each neuron card links back to the images where that unit
carries the most positive evidence for the explained class (``attribution.images[].neurons``).

Paths follow the dissection pages' own rule (slugs of the model and layer, slugified again), so a link and the
page it points to cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..records import DissectedModel, Layer, Results
from ..text import slugify

IMAGES_PER_UNIT = 5
"""Images listed on a neuron card: the ones where the unit's share of the positive evidence is largest."""


@dataclass(frozen=True)
class UnitImage:
    """An image where a unit carries positive evidence for the explained class (a neuron card's link)."""

    id: str
    title: str
    share: Optional[float]
    contribution: float


def _slug(value: str) -> str:
    return slugify(str(value)).lower()


def dissected_layers(results: Results | None) -> dict[tuple[str, str], tuple[DissectedModel, Layer]]:
    """``{(model key, layer name): (model entry, layer entry)}`` of the dissection section, for every dissected layer."""
    section = results.dissection if results else None
    return {(model.key, info.name): (model, info) for model in (section.models if section else []) for info in model.layers}


def layer_pages(results: Results | None) -> dict[tuple[str, str], str]:
    """``{(model key, layer name): docs-relative path of its neuron gallery}`` for every dissected layer."""
    return {found: f"dissection/{_slug(model.slug)}/{_slug(info.slug)}.md"
            for found, (model, info) in dissected_layers(results).items()}


def layer_page(results: Results, model_key: str, layer: str) -> str | None:
    """The docs-relative path of the neuron gallery of ``layer`` of ``model_key``; None when it was not dissected."""
    return layer_pages(results).get((model_key, layer))


def unit_images(results: Results) -> dict[str, dict[str, dict[int, list[UnitImage]]]]:
    """``{model key: {layer: {unit: [UnitImage, ...]}}}``: for every unit listed among an image's top contributors,
    the images where it matters most (largest share first, at most :data:`IMAGES_PER_UNIT`). Empty when no image
    has a unit-by-unit account."""
    section = results.attribution
    found: dict[int, list[UnitImage]] = {}
    for record in section.images if section else []:
        for u in record.neurons.units:
            if u.contribution > 0:
                found.setdefault(u.unit, []).append(UnitImage(record.id, record.title, u.share, u.contribution))
    if not found:
        return {}
    ranked = {unit: sorted(hits, key=lambda h: (-(h.share or 0.0), h.id))[:IMAGES_PER_UNIT]
              for unit, hits in found.items()}
    return {section.model.key: {section.model.layer: ranked}}
