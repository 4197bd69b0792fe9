"""The generated site builds under MkDocs (the default) and under Zensical (``zensical build -f mkdocs.yml``), with
its key parts in both: the gallery, lightbox links on the image pages, the table script, the raw downloads.
What Zensical 0.1.1 leaves out is listed in the README (the print-site page, the GLightbox script)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import xai_report as xr
from conftest import TinyNet

SITE_BUILDS = {
    "mkdocs": lambda yml, out: [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(yml), "-d", str(out)],
    "zensical": lambda yml, out: [str(Path(sys.executable).with_name("zensical")), "build", "-f", str(yml)],
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("zensical")
    images = root / "images"
    images.mkdir()
    from conftest import STUDY_IMAGES

    for name in ("n01443537_goldfish.JPEG", "n07747607_orange.JPEG"):
        (images / name).write_bytes((STUDY_IMAGES / name).read_bytes())
    study = xr.Study.from_dict({
        "title": "Two builders", "device": "cpu", "output_dir": "out", "site_dir": "site_src", "publish_raw": True,
        "models": {"net": {"source": "memory"}},
        "attribution": {"model": "net", "images": "images", "layer": "features", "methods": ["gradcam", "lime"],
                        "metrics": False, "randomised_methods": [], "lime": {"num_samples": 40, "batch_size": 20}},
    }, base_dir=root)
    return xr.build(study, model=TinyNet(), preprocess={"resize": 40, "crop": 32},
                    class_names=["alpha", "beta", "gamma", "delta"])


@pytest.mark.parametrize("builder", sorted(SITE_BUILDS))
def test_the_site_builds_with_its_key_parts(report, builder):
    yml = report.mkdocs_yml
    out = yml.parent / f"site-{builder}"
    proc = subprocess.run(SITE_BUILDS[builder](yml, out), capture_output=True, text=True, timeout=300, cwd=yml.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if builder == "zensical":  # zensical 0.1.1 writes to the site_dir of mkdocs.yml (default site/)
        out = yml.parent / "site"
    gallery = (out / "attribution" / "gallery" / "index.html").read_text()
    assert gallery.count("<img") >= 2
    page = (out / "attribution" / "images" / "n01443537_goldfish" / "index.html").read_text()
    assert len(re.findall(r'<a [^>]*class="glightbox"', page)) >= 2
    assert "javascripts/xai-report.js" in page and "stylesheets/extra.css" in page
    downloads = re.findall(r'href="([^"]*assets/(?:maps/[^"]+\.npy|results\.json))"', page)
    assert downloads, "no raw download links"
    for link in downloads[:3]:
        assert (out / "attribution" / "images" / "n01443537_goldfish" / link).resolve().is_file(), link
