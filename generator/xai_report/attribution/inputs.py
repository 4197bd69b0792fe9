"""The attribution stage's inputs: the study's images, read and prepared for the model, and the class each
one's explanations explain."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..data import PreparedImage, load_rgb, prepare
from ..labels import Label, folder_labels, image_files
from ..errors import BadInput
from ..models.preprocess import Preprocess
from ..store import bytes_sha256
from ..text import display_name, slugify

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


def load_inputs(folder: Path, preprocess: Preprocess, first: int = 0) -> tuple[list[ImageInput], list[dict]]:
    """Readable images of ``folder`` (only the first ``first`` files when it is above 0), and a skip record (file +
    one-line reason) for every unusable one. Each image is decoded once here to check it, and again when the stage
    reaches it (its pixels are not kept meanwhile)."""
    folder_labels(folder)  # a malformed labels.csv stops the build here, before any compute
    inputs, skipped, seen = [], [], {}
    files = image_files(folder)  # with ImageFolder class subfolders
    for path in files[:first] if first > 0 else files:
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


def target_for(rule: str | int, path: Path, probs: np.ndarray, label: Label | None) -> tuple[int, str, str] | str:
    """(class index, rule, why) of the class to explain under ``attribution.target``, or a skip reason;
    ``label``: the image's true class (:mod:`xai_report.labels`), if it has one."""
    if rule == "predicted":
        k = int(np.argmax(probs))
        return k, "predicted", "the model's top-1 prediction (target = \"predicted\")"
    if rule == "label":
        if label is None:
            return (f"{path.name}: no label (a WordNet id in the file name, an ImageFolder class subfolder or a "
                    "row of attribution.labels), needed for target = \"label\"")
        where = f"the WordNet id {label.source[len('WordNet id '):]} in its file name" if label.source.startswith("WordNet id") \
            else label.source
        return label.index, "label", f"the image's true class, from {where} (target = \"label\")"
    return int(rule), "index", f"class index {int(rule)} fixed in the study config"
