"""The attribution stage's inputs: the study's images, read and prepared for the model, and the class each
one's explanations explain."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..data import PreparedImage, list_images, load_rgb, prepare, wnid_of
from ..errors import BadInput
from ..models import Preprocess
from ..store import bytes_sha256
from ..text import display_name, slugify

LABELS_FILE = "labels.csv"
"""An image folder's optional labels (``file,synset,...``, as ``data/probe/imagenet-val`` has): the true
class of images whose file names do not start with a WordNet id."""


@dataclass(frozen=True)
class ImageInput:
    """An image of the study. Its pixels are decoded when first used and only the last few images' are kept
    (:func:`prepared_image`), so a study of thousands of images holds one or two at a time."""

    path: Path
    image_id: str
    """The image's page id (a slug of its file name)."""
    sha256: str
    preprocess: Preprocess

    @property
    def prepared(self) -> PreparedImage:
        return prepared_image(self.path, self.sha256, self.preprocess)

    @property
    def data(self) -> bytes:
        """The file's bytes."""
        return self.path.read_bytes()


@lru_cache(maxsize=2)
def prepared_image(path: Path, sha256: str, preprocess: Preprocess) -> PreparedImage:
    """``path`` read and prepared for the model; BadInput if its bytes are no longer those that were checked."""
    if bytes_sha256(path.read_bytes()) != sha256:
        raise BadInput(f"{display_name(path)}: the file changed during the build; run it again")
    return prepare(load_rgb(path), preprocess)


def load_inputs(folder: Path, preprocess: Preprocess) -> tuple[list[ImageInput], list[dict]]:
    """Readable images of ``folder``, and a skip record (file + one-line reason) for every unusable one. Each image
    is decoded once here to check it, and again when the stage reaches it (its pixels are not kept meanwhile)."""
    folder_labels(folder)  # a malformed labels.csv stops the build here, before any compute
    inputs, skipped, seen = [], [], {}
    for path in list_images(folder):
        image_id = slugify(path.stem)
        if image_id in seen:
            skipped.append({"file": path.name, "reason": f"its page name {image_id!r} is taken by {seen[image_id]}; rename one"})
            continue
        try:
            raw = path.read_bytes()
            prepare(load_rgb(path), preprocess)
        except BadInput as exc:
            skipped.append({"file": path.name, "reason": str(exc)})
            continue
        except OSError as exc:
            skipped.append({"file": path.name, "reason": f"{path.name}: cannot be read ({exc.strerror})"})
            continue
        seen[image_id] = path.name
        inputs.append(ImageInput(path, image_id, bytes_sha256(raw), preprocess))
    return inputs, skipped


def target_for(rule: str | int, path: Path, probs: np.ndarray, wnids: list[str]) -> tuple[int, str, str] | str:
    """(class index, rule, why) of the class to explain under ``attribution.target``, or a skip reason."""
    if rule == "predicted":
        k = int(np.argmax(probs))
        return k, "predicted", "the model's top-1 prediction (target = \"predicted\")"
    if rule == "label":
        wnid = true_wnid(path)
        if wnid is None or wnid not in wnids:
            return f"{path.name}: no ImageNet WordNet id in the file name or {LABELS_FILE}, needed for target = \"label\""
        k = wnids.index(wnid)
        where = "its file name" if wnid_of(path) else LABELS_FILE
        return k, "label", f"the image's true class, from the WordNet id {wnid} in {where} (target = \"label\")"
    return int(rule), "index", f"class index {int(rule)} fixed in the study config"


def true_wnid(path: Path) -> str | None:
    """The image's WordNet id: from its file name (``n01443537_goldfish.JPEG``), else from the ``labels.csv``
    beside it, else None."""
    return wnid_of(path) or folder_labels(path.parent).get(path.name)


@lru_cache(maxsize=8)
def folder_labels(folder: Path) -> dict[str, str]:
    """``{file name: synset}`` of ``folder/labels.csv`` (empty when there is none); BadInput names a malformed one."""
    file = folder / LABELS_FILE
    if not file.is_file():
        return {}
    with open(file, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"file", "synset"} <= set(rows[0]):
        raise BadInput(f"{display_name(file)}: needs the columns file and synset (file,synset,...); fix its header")
    return {r["file"]: r["synset"] for r in rows if r.get("file") and r.get("synset")}
