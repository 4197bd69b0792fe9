"""The site of a study with many images (render/scale_site.py), built at reduced size.

A copy of ``studies/scale.toml`` on its first 30 photos is built with the large-study layout switched on at 10
images and 12 images a gallery page (the shipped values are 50 and 50), then ``mkdocs build --strict``. Checked:
the paginated gallery with thumbnails, the index of all images, the findings page, one exact and deterministic
archive per method instead of loose maps, a navigation without the image pages, and, in Chromium, the bytes a
first visit to the gallery and to the home page fetches (under 2 MB each, counted by the server).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from xai_report.cli import main
from xai_report.render import scale_site

ROOT = Path(__file__).resolve().parents[1]
IMAGES = int(os.environ.get("XAI_REPORT_SCALE_IMAGES", "30"))
"""Photos of the reduced build (at least 12: the large layout starts above 10, 12 images a gallery page)."""
PER_PAGE = 12
FIRST_LOAD_LIMIT = 2_000_000


def _write_subset():
    spec = importlib.util.spec_from_file_location("scale_subset", ROOT / "benchmarks" / "scale_subset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_subset


def test_pages_paginate_and_nav_leaves_out_image_pages():
    images = [{"id": f"i{k:03d}"} for k in range(120)]
    found = list(scale_site.pages({"images": images}))
    galleries = [p for p in found if "gallery" in p.path]
    assert [p.path for p in galleries] == ["attribution/gallery.md", "attribution/gallery-2.md", "attribution/gallery-3.md"]
    assert [len(p.context["page_images"]) for p in galleries] == [50, 50, 20]
    assert galleries[2].context["first"] == 101 and galleries[0].context["page_links"][1] == "gallery-2.md"
    assert found[-1].path == scale_site.INDEX_PAGE
    nav = scale_site.nav(["index.md", "attribution/index.md", "attribution/gallery.md", "attribution/gallery-2.md",
                          "attribution/images/a.md", "methodology/index.md", "assets/x.png", "dissection/m/layer.md"])
    assert nav == ["index.md", {"Attribution": ["attribution/index.md", "attribution/gallery.md"]},
                   {"Dissection": [{"M": ["dissection/m/layer.md"]}]}, {"Methodology": ["methodology/index.md"]}]


def test_labels_csv_gives_the_true_class_and_a_malformed_one_is_named(tmp_path):
    from xai_report.errors import BadInput
    from xai_report.labels import folder_labels, true_labels
    from xai_report.models.classes import imagenet_classes

    (tmp_path / "labels.csv").write_text("file,synset,class_index,class_name\nval_1.JPEG,n02951358,472,canoe\n")
    wnids, names = imagenet_classes()
    files = [tmp_path / "val_1.JPEG", tmp_path / "val_2.JPEG", tmp_path / "n01443537_goldfish.JPEG"]
    found = true_labels(tmp_path, files, names, wnids)
    assert found[files[0]].index == wnids.index("n02951358") and found[files[0]].source == "labels.csv"
    assert files[1] not in found
    assert found[files[2]].index == wnids.index("n01443537")  # the file name comes first
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "labels.csv").write_text("name,wnid\nval_1.JPEG,n02951358\n")
    with pytest.raises(BadInput, match=r"labels.csv: needs the columns file and synset"):
        folder_labels(bad)


def test_archive_is_exact_and_deterministic(tmp_path):
    maps = tmp_path / "out" / "maps"
    maps.mkdir(parents=True)
    arrays = {f"img{k}_gradcam": np.random.default_rng(k).random((6, 5)).astype(np.float32) for k in range(3)}
    for name, arr in arrays.items():
        np.save(maps / f"{name}.npy", arr)
    files = sorted(f"maps/{n}.npy" for n in arrays)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    scale_site.write_archive(tmp_path / "out", files, first)
    time.sleep(1.1)  # a zip records times to 2 s; fixed timestamps make that irrelevant
    scale_site.write_archive(tmp_path / "out", list(reversed(sorted(files)))[::-1], second)
    assert first.read_bytes() == second.read_bytes()
    with np.load(first) as npz:
        assert sorted(npz.files) == sorted(arrays)
        assert all(np.array_equal(npz[n], a) and npz[n].dtype == a.dtype for n, a in arrays.items())
    with zipfile.ZipFile(first) as z:
        assert all(z.read(f"{n}.npy") == (maps / f"{n}.npy").read_bytes() for n in arrays)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The reduced scale study, built and mkdocs-built; yields (root, results)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(scale_site, "LARGE_STUDY", 10)
    patch.setattr(scale_site, "GALLERY_PAGE", PER_PAGE)
    try:
        root = tmp_path_factory.mktemp("scale")
        study = _write_subset()(IMAGES, root)
        study.write_text(study.read_text().replace('device = "auto"', 'device = "cpu"')
                         .replace("bootstrap_samples = 1000", "bootstrap_samples = 200"))
        result = CliRunner().invoke(main, ["build", "--study", str(study)])
        assert result.exit_code == 0, (result.output, result.exception)
        proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                              capture_output=True, text=True, cwd=root, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield root, json.loads((root / "output" / "results.json").read_text()), study
    finally:
        patch.undo()


pytestmark_real = pytest.mark.real_model


@pytestmark_real
def test_reduced_scale_site(built):
    root, results, study = built
    att, docs = results["attribution"], root / "site_src"
    ids = [r["id"] for r in att["images"]]
    assert len(ids) == IMAGES and all(r["true_class"] is not None for r in att["images"])  # labels.csv read
    assert att["dataset"]["images"] == IMAGES and att["dataset"]["accuracy"]["n"] == IMAGES
    sizes = [min(PER_PAGE, IMAGES - k) for k in range(0, IMAGES, PER_PAGE)]
    names = [scale_site.gallery_path(k + 1) for k in range(len(sizes))]
    assert sorted(p.relative_to(docs).as_posix() for p in docs.glob("attribution/gallery*.md")) == sorted(names)
    rows = [re.findall(r"^\| <span id=\"([a-z0-9-]+)\"", (docs / n).read_text(), re.M) for n in names]
    assert [len(r) for r in rows] == sizes and sum(rows, []) == [re.sub(r"[^A-Za-z0-9-]", "-", i).lower() for i in ids]
    assert all((docs / "attribution" / "images" / f"{i}.md").is_file() for i in ids)  # every image keeps its page
    gallery = (docs / "attribution" / "gallery.md").read_text()
    assert 'loading=lazy' in gallery and "assets/overlays/" not in gallery and "assets/thumbs/" in gallery
    thumbs = sorted((docs / "assets" / "thumbs").glob("*.jpg"))
    assert len(thumbs) == IMAGES * 3 and all(max(Image.open(t).size) <= scale_site.THUMB_PX for t in thumbs)
    index = (docs / scale_site.INDEX_PAGE).read_text()
    assert all(f"(images/{i}.md)" in index for i in ids) and "deletion AUC" in index
    assert (docs / "attribution" / "findings.md").is_file() and "95% interval" in (docs / "attribution" / "findings.md").read_text()
    # raw maps: one archive per method, exact, and no loose .npy files
    assert not list((docs / "assets").rglob("*.npy"))
    for method in ("gradcam", "ablationcam"):
        with np.load(docs / "assets" / scale_site.archive_path(method)) as npz:
            assert len(npz.files) == IMAGES
            for r in att["images"][:3]:
                rel = r["methods"][method]["map"]
                assert np.array_equal(npz[Path(rel).stem], np.load(root / "output" / rel))
    before = {m: (docs / "assets" / scale_site.archive_path(m)).read_bytes() for m in ("gradcam", "ablationcam")}
    for m in before:
        (docs / "assets" / scale_site.archive_path(m)).unlink()
    (docs / ".xai-figures-key").unlink()
    assert CliRunner().invoke(main, ["render", "--study", str(study)]).exit_code == 0
    assert all((docs / "assets" / scale_site.archive_path(m)).read_bytes() == b for m, b in before.items())
    # the navigation lists sections, not image pages; built pages stay small
    config = (root / "mkdocs.yml").read_text()
    assert "nav: [" in config and "attribution/images/" not in config.split("nav: ")[1].split("\n")[0]
    home = (root / "site" / "index.html").read_text()
    assert "attribution/images/" not in home


class _CountingHandler(SimpleHTTPRequestHandler):
    """Serves the built site and records (path, bytes of the body) of every response."""

    def copyfile(self, source, outputfile):
        data = source.read()
        outputfile.write(data)
        self.server.sent.append((self.path, len(data)))

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built):
    root = built[0]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_CountingHandler, directory=str(root / "site")))
    httpd.sent = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()


def _first_load(httpd, url: str, tmp_path: Path) -> list[tuple[str, int]]:
    """Open ``url`` in a fresh Chromium profile (empty cache); what the server sent until the page settled."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from test_browser import CHROMEDRIVER, CHROMIUM

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path}", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        httpd.sent.clear()
        driver.get(url)
        deadline = time.monotonic() + 30
        while driver.execute_script("return document.readyState") != "complete" and time.monotonic() < deadline:
            time.sleep(0.2)
        settled, last = time.monotonic(), -1
        while time.monotonic() - settled < 3 and time.monotonic() < deadline:  # quiet for 3 s: lazy loads, search index
            if len(httpd.sent) != last:
                last, settled = len(httpd.sent), time.monotonic()
            time.sleep(0.2)
        return list(httpd.sent)
    finally:
        driver.quit()


@pytestmark_real
@pytest.mark.parametrize("page", ["attribution/gallery/", ""])
def test_first_load_under_two_megabytes(webdriver_ready, server, page, tmp_path):
    sent = _first_load(server, f"http://127.0.0.1:{server.server_address[1]}/{page}", tmp_path)
    total = sum(n for _, n in sent)
    print(f"first load of /{page}: {total:,} bytes in {len(sent)} responses")
    assert sent and sent[0][0] == f"/{page}" and total < FIRST_LOAD_LIMIT
    if page:
        assert any("/thumbs/" in p for p, _ in sent) and not any("/overlays/" in p or p.endswith(".npz") for p, _ in sent)


from test_browser import webdriver_ready  # noqa: E402,F401 - the fixture that skips (or fails in CI) without chromium
