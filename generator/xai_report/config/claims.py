"""A claims file: statements of a write-up, each with what it is about and the test that decides it.

The study names the file (``claims = "claims/original_writeup.toml"``); the Claims page
(:mod:`xai_report.render.claims`) computes each claim's verdict from ``results.json``. The file holds:

* ``title``, ``source`` (where the quotes come from) and ``note`` (optional text for the page);
* ``[models.<role>]``: the models the write-up talks about, each a ``label`` and a ``weights`` prefix that
  finds it among the study's models by weights id (``torchvision:resnet18:``); ``attribution = true`` marks
  the model the write-up explained: its claims are tested on the study's attribution model, whichever it is,
  and the page says so when its weights differ;
* ``[[notes]]``: observations about an image (``image``, ``text``), shown beside the claims about it;
* ``[[claims]]``: ``id``, ``topic``, ``quote`` (the write-up's words), the subject (``models`` by role,
  ``layer``, ``methods``, ``images`` by page id; empty = all), ``evidence`` (the site page that shows the
  numbers) and ``test``: a ``kind`` and its parameters, fixed before any number is seen. The kinds are the
  classes below; the rule engine words each one's rule from its parameters.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, ValidationError

from ..errors import ConfigError
from .messages import one_line
from .schema import _Table

Measure = Literal["energy_in_boxes", "spread_half_max", "gini"]


class RoleSpec(_Table):
    label: str
    weights: str = ""
    """Prefix of the weights id (``results.json``) that identifies this model."""
    attribution: bool = False


class Note(_Table):
    image: str
    text: str


class ModelNumber(_Table):
    """Each model's ``field`` (a dotted path in its dissection summary) equals ``expected`` within
    ``tolerance`` (a fraction of it when ``relative``), or is at least ``minimum``."""

    kind: Literal["model_number"]
    field: str
    expected: list[float] = Field(default_factory=list)
    tolerance: float = 0.0
    relative: bool = False
    minimum: Optional[float] = None


class TopConcept(_Table):
    """Each model's most frequent label is ``labels[i]`` (``counts[i]`` neurons are shown, not tested)."""

    kind: Literal["top_concept"]
    labels: list[str]
    counts: list[int] = Field(default_factory=list)


class TopCategory(_Table):
    """Each model's most frequent concept category is one of ``categories[i]``."""

    kind: Literal["top_category"]
    categories: list[list[str]]


class ModelCompare(_Table):
    """The first model's ``field`` is larger than the second's."""

    kind: Literal["model_compare"]
    field: str


class Overlap(_Table):
    """The two models' top-n concept overlap equals ``expected`` within ``tolerance``."""

    kind: Literal["overlap"]
    expected: float
    tolerance: float


class OnlyIn(_Table):
    """At least ``min_present`` of ``concepts`` label neurons of the first model and none of the second."""

    kind: Literal["only_in"]
    concepts: list[str]
    min_present: int = 1


class LayerLabels(_Table):
    """At least ``min_present`` of ``concepts`` label a neuron of the claim's layer of the model."""

    kind: Literal["layer_labels"]
    concepts: list[str]
    min_present: int = 1


class PairwiseAgreement(_Table):
    """Every pair of the claim's methods has a mean pixel Spearman over the images of at least ``minimum``."""

    kind: Literal["pairwise_agreement"]
    minimum: float


class MethodOrder(_Table):
    """Each of the claim's methods has a ``direction`` (higher/lower) ``measure`` than every method of
    ``than`` on at least ``at_least`` (a fraction) of the images."""

    kind: Literal["method_order"]
    measure: Measure
    than: list[str]
    direction: Literal["higher", "lower"]
    at_least: float


class AboveChance(_Table):
    """Each method's energy in the boxes beats the boxes' area share on at least ``at_least`` of the images."""

    kind: Literal["above_chance"]
    at_least: float


class NoObject(_Table):
    """The boxes file marks no object in the claim's image: the claim is then ``verdict``."""

    kind: Literal["no_object"]
    verdict: Literal["supported", "contradicted"]


class RegionAgreement(_Table):
    """The mean over the claim's methods of their superpixel Spearman with ``region`` is at least ``minimum``
    on at least ``at_least`` of the images."""

    kind: Literal["region_agreement"]
    region: str
    minimum: float
    at_least: float


class AgreementContrast(_Table):
    """The claim's image has a lower mean superpixel Spearman with ``region`` than the mean of ``others``."""

    kind: Literal["agreement_contrast"]
    region: str
    others: list[str]


class SeedStability(_Table):
    """The claim's methods' maps from different seeds have a mean pixel Spearman below ``below`` (over images)."""

    kind: Literal["seed_stability"]
    below: float


Test = Annotated[Union[ModelNumber, TopConcept, TopCategory, ModelCompare, Overlap, OnlyIn, LayerLabels,
                       PairwiseAgreement, MethodOrder, AboveChance, NoObject, RegionAgreement, AgreementContrast,
                       SeedStability], Field(discriminator="kind")]
TEST_KINDS = ("model_number", "top_concept", "top_category", "model_compare", "overlap", "only_in", "layer_labels",
              "pairwise_agreement", "method_order", "above_chance", "no_object", "region_agreement",
              "agreement_contrast", "seed_stability")


class Claim(_Table):
    id: str
    topic: str
    quote: str
    models: list[str]
    layer: str = ""
    methods: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)
    evidence: str = ""
    """The page that shows the evidence, relative to the site root (``attribution/comparison.md``)."""
    why: str = ""
    """Optional context shown with the verdict (e.g. what the write-up's number counts)."""
    test: Test


class ClaimsFile(_Table):
    title: str = "Claims"
    source: str = ""
    note: str = ""
    models: dict[str, RoleSpec] = Field(default_factory=dict)
    notes: list[Note] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)


def load_claims(path: Path) -> ClaimsFile:
    """Read and check a claims file; ConfigError (one line, naming the file and key) when it is unusable."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"claims: file {path} does not exist; fix the path or remove the key") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"claims: {path.name} is not valid UTF-8 TOML ({exc}); fix the file") from None
    try:
        found = ClaimsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"claims: {path.name}: {one_line(exc, raw, ClaimsFile)}") from None
    seen: set[str] = set()
    for claim in found.claims:
        if claim.id in seen:
            raise ConfigError(f"claims: {path.name}: claim id {claim.id!r} appears twice; ids must be unique")
        seen.add(claim.id)
        for role in claim.models:
            if role not in found.models:
                raise ConfigError(f"claims: {path.name}: claim {claim.id!r} names model {role!r}; defined: "
                                  f"{', '.join(found.models) or 'none'} (add it under [models])")
    return found
