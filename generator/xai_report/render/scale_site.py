"""A site that stays fast with a thousand images: what changes above :data:`LARGE_STUDY` images.

- The gallery is paginated (:data:`GALLERY_PAGE` images a page) and shows small thumbnails made for it
  (:data:`THUMB_PX` px JPEGs of the photo and overlays, loaded lazily), each linking to its image page.
- An index of all images (``attribution/all-images.md``) sorts and filters them (class, correct or wrong,
  each method's AUC), through the site's page script.
- The raw maps are published as one ``.npz`` per method (``assets/raw/maps-<method>.npz``: a zip of the exact
  ``.npy`` files, readable with ``numpy.load``), written deterministically (fixed timestamps, sorted names),
  instead of thousands of loose files; ``results.json`` is published as it is.
- The navigation lists the section pages, not every image page (Material repeats the navigation on every page,
  so a thousand entries would make every page large); image pages stay where they were, with their permalinks.

Studies with at most :data:`LARGE_STUDY` images keep the one-page gallery and loose raw files.
"""

from __future__ import annotations

import filecmp
import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from PIL import Image

from ..records import AttributionSection, ImageRecord
from .pages import Page

LARGE_STUDY = 50
"""More images than this: paginated gallery, thumbnails, an image index, raw archives, a short navigation."""
GALLERY_PAGE = 50
THUMB_PX = 112
THUMB_QUALITY = 80
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every archive member's timestamp: two renders of the same maps give the same bytes."""
INDEX_PAGE = "attribution/all-images.md"


def is_large(section: AttributionSection | None) -> bool:
    """Whether the attribution section has enough images for the scaled layout."""
    return section is not None and len(section.images) > LARGE_STUDY


def gallery_path(page: int) -> str:
    """The docs path of gallery page ``page`` (1-based); the first keeps the one-page gallery's path."""
    return "attribution/gallery.md" if page == 1 else f"attribution/gallery-{page}.md"


def thumb_path(image_id: str, name: str) -> str:
    """The site path (under ``assets/``) of an image's thumbnail: ``name`` is ``photo`` or a method."""
    return f"thumbs/{image_id}_{name}.jpg"


def picture(record: ImageRecord, name: str, large: bool) -> str:
    """The site path (under ``assets/``) of an image's small picture: ``name`` is ``photo`` or a method; a large
    study's thumbnail, else the published photo or overlay itself (shown small)."""
    if large:
        return thumb_path(record.id, name)
    return record.photo if name == "photo" else record.methods[name].overlay


def archive_path(method: str) -> str:
    """The site path (under ``assets/``) of a method's raw maps archive."""
    return f"raw/maps-{method}.npz"


def pages(common: dict) -> Iterator[Page]:
    """The paginated gallery and the image index (``common``: the attribution pages' context)."""
    images = common["images"]
    chunks = [images[i:i + GALLERY_PAGE] for i in range(0, len(images), GALLERY_PAGE)]
    links = [gallery_path(k + 1).removeprefix("attribution/") for k in range(len(chunks))]
    for k, chunk in enumerate(chunks, start=1):
        yield Page(gallery_path(k), "gallery_paged.md.j2",
                   {**common, "page_images": chunk, "page_no": k, "page_links": links, "first": (k - 1) * GALLERY_PAGE + 1})
    yield Page(INDEX_PAGE, "image_index.md.j2", common)


def thumbnail(source: Path) -> bytes:
    """A JPEG of ``source`` whose longer side is :data:`THUMB_PX` (aspect kept, no metadata, same bytes each time)."""
    with Image.open(source) as img:
        small = img.convert("RGB")
        small.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=THUMB_QUALITY)
    return buf.getvalue()


def method_arrays(section: AttributionSection) -> dict[str, list[str]]:
    """Output-relative ``maps/*.npy`` paths of every image, per method (sorted)."""
    found: dict[str, set[str]] = {m.name: set() for m in section.methods}
    for record in section.images:
        for method, entry in record.methods.items():
            values = entry.model_dump(mode="json", exclude_none=True).values()
            found[method].update(v for v in values if isinstance(v, str) and v.startswith("maps/") and v.endswith(".npy"))
    return {m: sorted(paths) for m, paths in found.items()}


def write_archive(output: Path, files: list[str], target: Path) -> None:
    """Zip ``files`` (relative to ``output``) into ``target`` as ``.npz`` members named by their file name, one
    file at a time (memory stays one map); the file is replaced only when its bytes change."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            for rel in files:
                info = zipfile.ZipInfo(Path(rel).name, date_time=ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with open(output / rel, "rb") as src, archive.open(info, "w") as dst:
                    dst.write(src.read())
        if target.is_file() and filecmp.cmp(tmp, target, shallow=False):
            return
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_files(output: Path, section: AttributionSection, site: Path, raw: bool, fresh: bool) -> list[str]:
    """Write the thumbnails and (with ``raw``) the per-method archives under ``site/assets``; returns their site
    paths. ``fresh``: ``results.json`` is unchanged since the last render, so files already there are kept."""
    written = []
    for record in section.images:
        sources = {"photo": record.photo, **{m: e.overlay for m, e in record.methods.items()}}
        for name, rel in sources.items():
            path = "assets/" + thumb_path(record.id, name)
            if not (fresh and (site / path).is_file()):
                data = thumbnail(output / rel)
                if not ((site / path).is_file() and (site / path).read_bytes() == data):
                    (site / path).parent.mkdir(parents=True, exist_ok=True)
                    (site / path).write_bytes(data)
            written.append(path)
    if raw:
        for method, files in method_arrays(section).items():
            path = "assets/" + archive_path(method)
            if not (fresh and (site / path).is_file()):
                write_archive(output, files, site / path)
            written.append(path)
    return written


def nav(page_paths: list[str]) -> list:
    """MkDocs ``nav`` entries for ``page_paths`` (docs-relative ``.md``) without the image pages and the gallery's
    later pages: folders become sections (title from the folder name), ``index.md`` first, then by name."""
    shown = [p for p in page_paths if p.endswith(".md") and not p.startswith("attribution/images/")
             and not (p.startswith("attribution/gallery-"))]
    return _entries(sorted(shown), "")


def _entries(paths: list[str], prefix: str) -> list:
    files = sorted(p for p in paths if "/" not in p[len(prefix):])
    folders = sorted({p[len(prefix):].split("/")[0] for p in paths if "/" in p[len(prefix):]})
    items: list[tuple[str, object]] = [(Path(f).name, f) for f in files]
    for folder in folders:
        inside = [p for p in paths if p.startswith(f"{prefix}{folder}/")]
        items.append((folder, {folder.replace("-", " ").replace("_", " ").capitalize(): _entries(inside, f"{prefix}{folder}/")}))
    items.sort(key=lambda item: (item[0] != "index.md", item[0].removesuffix(".md")))
    return [entry for _, entry in items]
