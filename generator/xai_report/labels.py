"""Your images' true classes: an ImageFolder layout, a ``file,label`` CSV, or WordNet ids in file names.

* ImageFolder (torchvision's layout): one subfolder per class, named by a class name of the model or its
  index (``images/goldfish/photo1.jpg``, ``images/1/photo1.jpg``); images directly in the folder have no label.
* ``attribution.labels = "labels.csv"``: rows ``file,label`` (a header row ``file,label`` is allowed), the
  file relative to the image folder, the label a class name or an index.
* Otherwise an ImageNet WordNet id at the start of a file name (``n01443537_goldfish.JPEG``), as before.

A label is matched to the model's class names exactly (or as a class index, or a WordNet id of an ImageNet
model); an unknown one stops the build before any compute with one line listing the closest names.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .data import IMAGE_SUFFIXES, list_images, wnid_of
from .errors import BadInput
from .text import display_name

LABELS_FILE = "labels.csv"
"""An image folder's own labels (ImageNet validation style: ``file,synset,...``), read when the study names no
``attribution.labels``."""


@dataclass(frozen=True)
class Label:
    index: int
    source: str
    """Where the label came from, for the pages: "folder goldfish", "labels.csv", "WordNet id n01443537"."""


def image_files(folder: Path) -> list[Path]:
    """The folder's images, and in ImageFolder layout those of its class subfolders (sorted, deterministic)."""
    files = list_images(folder)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files.extend(sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
    return files


def class_index(label: str, class_names: list[str], wnids: list[str], where: str) -> int:
    """The class a label names: exactly a class name, an index, or a WordNet id; BadInput with the closest names."""
    if label in class_names:
        return class_names.index(label)
    if label.isdigit() and int(label) < len(class_names):
        return int(label)
    if label in wnids:
        return wnids.index(label)
    close = difflib.get_close_matches(label, class_names, n=5, cutoff=0.5)
    hint = f"closest class names: {', '.join(close)}" if close else f"the model has {len(class_names)} classes, e.g. {', '.join(class_names[:3])}"
    raise BadInput(f"{where}: label {label!r} is not a class of the model; {hint}")


def read_csv(path: Path) -> dict[str, str]:
    """``file -> label`` from a ``file,label`` CSV."""
    rows: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for number, row in enumerate(csv.reader(fh), 1):
            if not row or (number == 1 and [c.strip().lower() for c in row[:2]] == ["file", "label"]):
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise BadInput(f"{path}: line {number} is not `file,label`")
            rows[Path(row[0].strip()).as_posix()] = row[1].strip()
    return rows


def true_labels(folder: Path, files: list[Path], class_names: list[str], wnids: list[str],
                csv_file: str = "") -> dict[Path, Label]:
    """Each image's true class, by the rules of the module docstring (images without one are left out)."""
    from_csv = read_csv(Path(csv_file)) if csv_file else {}
    found: dict[Path, Label] = {}
    for path in files:
        relative = path.relative_to(folder).as_posix()
        if relative in from_csv:
            where = f"{Path(csv_file).name}, {relative}"
            found[path] = Label(class_index(from_csv[relative], class_names, wnids, where), Path(csv_file).name)
        elif path.parent != folder:
            where = f"{folder.name}/{path.parent.name}/ (ImageFolder class subfolder)"
            found[path] = Label(class_index(path.parent.name, class_names, wnids, where), f"folder {path.parent.name}")
        elif wnid_of(path) in wnids:
            found[path] = Label(wnids.index(wnid_of(path)), f"WordNet id {wnid_of(path)}")
        elif folder_labels(path.parent).get(path.name) in wnids:
            found[path] = Label(wnids.index(folder_labels(path.parent)[path.name]), LABELS_FILE)
    missing = sorted(set(from_csv) - {p.relative_to(folder).as_posix() for p in files})
    if missing:
        raise BadInput(f"{csv_file}: {missing[0]} is not an image of {folder}; fix the file name or remove the row")
    return found


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
