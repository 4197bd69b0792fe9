"""Class names of the datasets our classifiers were trained on, in output order."""

from __future__ import annotations

from ..paths import CONCEPTS_DIR


def imagenet_classes() -> tuple[list[str], list[str]]:
    """ImageNet-1k (wnid, short class name) lists in the standard sorted-synset order (0-999)."""
    wnids = []
    for line in (CONCEPTS_DIR / "LOC_synset_mapping.txt").read_text().splitlines():
        if line.strip():
            wnids.append(line.split(" : ", 1)[0].strip())
    names = [n.strip() for n in (CONCEPTS_DIR / "imagenet_classes.txt").read_text().splitlines() if n.strip()]
    return wnids, names


def places365_classes() -> list[str]:
    """Places365 class names ("/a/airfield 0" -> "airfield"; "/b/bedroom" style paths keep their sub-type)."""
    names = []
    for line in (CONCEPTS_DIR / "categories_places365.txt").read_text().splitlines():
        if line.strip():
            path = line.split()[0]
            names.append(" ".join(path.split("/")[2:]).replace("_", " "))
    return names
