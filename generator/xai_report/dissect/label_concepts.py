"""The ``labels`` concept source: concepts from the probe images' ImageNet labels and WordNet, without CLIP.

CLIP-Dissect (Oikarinen & Weng, ICLR 2023) needs ``P[i, c]``, how strongly image ``i`` shows concept ``c``;
it takes it from CLIP. With labelled probe photos it can come from the labels instead: the concepts are the
ImageNet class names plus the WordNet ancestor synsets (Miller, "WordNet: A Lexical Database for English",
CACM 1995; WordNet 3.0) that cover between ``min_classes`` and ``max_classes`` of the 1000 classes, and

    q[i, c] = 1[c = class(i) or c is an ancestor of class(i)] / (number of such concepts of class(i)),

the row-normalised indicator of the image's class and its kept ancestors. The same soft-WPMI (:mod:`.wpmi`)
then labels the neurons. Soft-WPMI turns ``P`` into concept probabilities with ``softmax_c(a * P[i, c])``
(made for CLIP cosines), so the source hands it ``P = log(q) / a``: the softmax then gives back ``q`` itself.
Fed ``q`` directly, ``a * q`` is at most ``a / 16`` for a class with 15 ancestors and the softmax is nearly
uniform over the 1,287 concepts (on EfficientNet-Lite0 the classifier's exact self-check fell from 82% to 31%). An image's class comes from the WordNet id its file name starts with
(``n01440764_tench.jpg``), or else from a ``labels.csv`` (``file,synset,...``) in its folder.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..errors import BadInput
from ..store import bytes_sha256, canonical_json
from ..text import display_name
from .concepts import ConceptSet
from .probe import ProbeImage

WNID = re.compile(r"^(n\d{8})")
LABELS_FILE = "labels.csv"
MIN_Q = 1e-7
"""Stands for a zero of ``q`` inside the log (soft-WPMI's own ``min_prob``)."""
CATEGORY_SYNSETS: dict[str, tuple[str, ...]] = {
    "person or body part": ("n00007846",),
    "animal": ("n00015388",),
    "plant": ("n00017222",),
    "food": ("n07555863", "n00021265"),
    "vehicle": ("n04524313",),
    "furniture": ("n03405725",),
    "clothing": ("n03051540",),
    "building or structure": ("n04341686",),
    "scene or place": ("n09287968", "n00027167"),
    "tool or object": ("n00021939",),
}
"""The categories of :data:`.categories.DEFAULT_CATEGORIES` as WordNet synsets, checked in this order (the
first one that is the concept or one of its ancestors wins; ``artifact`` last, as it covers the others)."""


@dataclass(frozen=True)
class LabelVocabulary:
    """The concepts of the labels source: the classes (in class-index order) first, then the kept ancestors."""

    wnids: list[str]
    names: list[str]
    """Unique display names (a duplicated WordNet name gets the class index or the WordNet id)."""
    n_classes: int
    ancestors: dict[str, list[str]]
    """Concept wnid -> the wnids of its kept ancestors (a class's, and for an ancestor those of all its classes)."""

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}

    def categories(self, all_ancestors: dict[str, set[str]]) -> dict[str, str]:
        """``{concept name: category}`` from :data:`CATEGORY_SYNSETS` (``other`` when none applies)."""
        out = {}
        for wnid, name in zip(self.wnids, self.names):
            above = all_ancestors.get(wnid, set()) | {wnid}
            out[name] = next((cat for cat, synsets in CATEGORY_SYNSETS.items() if above & set(synsets)), "other")
        return out


def _read_csv(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise BadInput(f"{display_name(path)}: cannot be read ({exc.strerror}); fix the path in the study file") from None
    missing = [c for c in columns if rows and c not in rows[0]]
    if not rows or missing:
        raise BadInput(f"{display_name(path)}: needs the columns {', '.join(columns)}; missing {', '.join(missing) or 'rows'}")
    return rows


def _unique(names: list[str], tags: list[str]) -> list[str]:
    """``names`` with every duplicated one followed by its tag in brackets ("crane (class 134)")."""
    counts = Counter(names)
    return [f"{n} ({t})" if counts[n] > 1 else n for n, t in zip(names, tags)]


def read_vocabulary(classes_file: Path, ancestors_file: Path, min_classes: int,
                    max_classes: int) -> tuple[LabelVocabulary, dict[str, set[str]]]:
    """The labels vocabulary, and every class's full ancestor set (for categories and the self-check)."""
    classes = _read_csv(classes_file, ["class_index", "wnid", "lemmas", "ancestors"])
    synsets = _read_csv(ancestors_file, ["wnid", "lemmas", "imagenet_classes_below"])
    classes.sort(key=lambda r: int(r["class_index"]))
    kept = [r for r in synsets if min_classes <= int(r["imagenet_classes_below"]) <= max_classes]
    kept_ids = {r["wnid"] for r in kept}
    full = {r["wnid"]: set(r["ancestors"].split()) for r in classes}
    below: dict[str, list[set[str]]] = {}
    for anc in full.values():
        for a in anc:
            below.setdefault(a, []).append(anc)
    for a, sets in below.items():  # an ancestor's own ancestors: those all its classes share
        full[a] = set.intersection(*sets) - {a}
    wnids = [r["wnid"] for r in classes] + [r["wnid"] for r in kept]
    names = [r["lemmas"].split(";")[0] for r in classes] + [r["lemmas"].split(";")[0] for r in kept]
    tags = [f"class {r['class_index']}" for r in classes] + [r["wnid"] for r in kept]
    ancestors = {w: sorted(full.get(w, set()) & kept_ids) for w in wnids}
    return LabelVocabulary(wnids, _unique(names, tags), len(classes), ancestors), full


def image_classes(probe: Sequence[ProbeImage]) -> list[str | None]:
    """Each probe image's class wnid (file name prefix, else its folder's ``labels.csv``), or None."""
    tables: dict[Path, dict[str, str]] = {}
    out = []
    for img in probe:
        match = WNID.match(img.path.name)
        if match:
            out.append(match.group(1))
            continue
        folder = img.path.parent
        if folder not in tables:
            table = folder / LABELS_FILE
            tables[folder] = ({r["file"]: r["synset"] for r in _read_csv(table, ["file", "synset"])}
                              if table.is_file() else {})
        out.append(tables[folder].get(img.path.name))
    return out


def label_probabilities(vocab: LabelVocabulary, classes: Sequence[str]) -> torch.Tensor:
    """``P`` (images x concepts): the row-normalised indicator of each image's class and its kept ancestors."""
    index = vocab.index()
    p = torch.zeros(len(classes), len(vocab.wnids), dtype=torch.float32)
    for i, wnid in enumerate(classes):
        cols = [index[wnid]] + [index[a] for a in vocab.ancestors[wnid]]
        p[i, cols] = 1.0 / len(cols)
    return p


def labelled_probe(vocab: LabelVocabulary, probe: list[ProbeImage], skipped: list[dict]) -> list[ProbeImage]:
    """The probe images with an ImageNet class; each one without is added to ``skipped`` with its reason."""
    known = set(vocab.wnids[:vocab.n_classes])
    kept = []
    for img, wnid in zip(probe, image_classes(probe)):
        if wnid in known:
            kept.append(img)
        else:
            skipped.append({"file": img.name, "reason": "no ImageNet class (the labels concept source needs a WordNet "
                                                        f"id in the file name or a row in {LABELS_FILE})"})
    return kept


def label_concept_set(vocab: LabelVocabulary, probe: Sequence[ProbeImage], a: float) -> ConceptSet:
    """The labels source's concept set over ``probe``: the unique names, and ``P`` from the images' classes; its
    hash covers the names, the synsets and every image's class (the label cache keys see a changed label).
    ``a`` is soft-WPMI's softmax sharpness: ``softmax_c(a * P)`` is the row-normalised indicator ``q``."""
    classes = image_classes(probe)
    sha = bytes_sha256(canonical_json({"names": vocab.names, "wnids": vocab.wnids, "images": classes}).encode())
    q = label_probabilities(vocab, classes)
    index = vocab.index()
    ancestors = [[index[a] for a in vocab.ancestors[w]] for w in vocab.wnids]
    return ConceptSet("concepts", list(vocab.names), sha, None, torch.log(q.clamp(min=MIN_Q)) / a, member=q > 0,
                      ancestors=ancestors)
