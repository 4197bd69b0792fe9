"""The site with many methods (issue 24): methods grouped by family on the gallery and the image pages, the
reviewer's method picker, and the methodology page's row per method (family, parameters, baseline, cost).

One tiny build (the 4-class test CNN, one photo, eight CAMs, LIME and RISE at few samples), rendered and put through
``mkdocs build --strict``; what the picker does in a browser is in ``tests/test_browser.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from urllib.parse import quote

import pytest

from xai_report.records import AttributionSection, MethodInfo
from xai_report.records.attribution import FAMILY_TITLES
from xai_report.paths import TEMPLATES_DIR
from xai_report.render.markdown import environment

from conftest import STUDY_IMAGES, build_with_tiny_model, write_study

CAMS = ("gradcam", "gradcam++", "xgradcam", "eigencam", "layercam", "hirescam", "ablationcam", "scorecam")
METHODS = CAMS + ("lime", "rise")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(results.json, the docs folder, the study folder) of the tiny ten-method build."""
    root = tmp_path_factory.mktemp("families")
    (root / "images").mkdir()
    shutil.copy(STUDY_IMAGES / "n01443537_goldfish.JPEG", root / "images")
    study = write_study(root, root / "images", methods=METHODS, layer="features")
    study.write_text(study.read_text() + "\n[attribution.rise]\nmasks = 20\n")
    build_with_tiny_model(study)
    return json.loads((root / "out" / "results.json").read_text()), root / "site_src", root


def _sections(page: str) -> dict[str, str]:
    """Each family block of a page (``<div class="xai-family" data-family=...>``) -> its text."""
    parts = re.split(r'<div class="xai-family" data-family="([a-z-]+)" markdown>', page)
    return dict(zip(parts[1::2], parts[2::2]))


def test_results_carry_each_methods_family_settings_and_baseline(built):
    results, _, _ = built
    section = results["attribution"]
    methods = {m["name"]: m for m in section["methods"]}
    assert [m["name"] for m in section["methods"]] == list(METHODS)
    assert {methods[m]["family"] for m in CAMS} == {"cam"}
    assert methods["lime"]["family"] == methods["rise"]["family"] == "perturbation"
    assert methods["lime"]["baseline"] == "hidden superpixels filled with their mean colour"
    assert "Baseline" not in methods["lime"]["settings"] and methods["lime"]["settings"]["Samples"] == "60"
    assert methods["rise"]["settings"]["Masks"].startswith("20 random masks")
    assert "baseline" not in methods["gradcam"] and methods["gradcam"]["settings"] == {}
    # the methods' own lines left the study-wide table (no line twice on the page)
    assert not any(k in section["parameters"] for k in ("LIME", "RISE", "Samples", "Masks"))


def test_gallery_groups_the_maps_by_family_with_no_empty_family(built):
    results, site, _ = built
    page = (site / "attribution" / "gallery.md").read_text()
    blocks = _sections(page)
    assert list(blocks) == ["cam", "perturbation"]  # gradient, propagation, attention: no method, no heading
    assert "## CAM { #family-cam }" in blocks["cam"] and "## Perturbation { #family-perturbation }" in blocks["perturbation"]
    assert not re.search(r"^## (Gradient|Propagation|Attention)", page, re.M)
    record = results["attribution"]["images"][0]
    for family, names in (("cam", CAMS), ("perturbation", ("lime", "rise"))):
        marked = re.findall(r'data-method="([a-z-]+)"', blocks[family])
        assert marked == [re.sub(r"[^a-z0-9-]", "-", n) for n in names]
        assert all(quote(record["methods"][n]["overlay"], safe="/#.-_~") in blocks[family] for n in names)
        # each family's table keeps the photo and the image's row gallery, so the lightbox flips through all
        assert blocks[family].count('data-gallery="row-') == 1 + len(names)
    # the image's anchor is on the page once
    assert page.count(f'<span id="{record["id"].replace("_", "-")}"></span>') == 1


def test_picker_lists_every_method_under_its_family(built):
    results, site, _ = built
    record = results["attribution"]["images"][0]
    for page in ((site / "attribution" / "gallery.md").read_text(),
                 (site / "attribution" / "images" / f"{record['id']}.md").read_text()):
        picker = page[page.index('<div class="xai-picker"'):]
        picker = picker[:picker.index("</div>")]
        assert " hidden>" in picker.splitlines()[0]  # shown by the script only: without it every picture shows
        assert re.findall(r'<fieldset data-family="([a-z]+)">', picker) == ["cam", "perturbation"]
        assert re.findall(r'data-method="([a-z-]+)"', picker) == ["gradcam", "gradcam--", *[re.sub("[^a-z-]", "-", m) for m in CAMS[2:]], "lime", "rise"]
        assert "> Grad-CAM++</label>" in picker  # raw HTML: escaped for HTML, not for Markdown


def test_image_page_puts_the_maps_first_grouped_by_family(built):
    results, site, _ = built
    record = results["attribution"]["images"][0]
    page = (site / "attribution" / "images" / f"{record['id']}.md").read_text()
    maps = page[page.index("## Heatmaps side by side"):page.index("## Top-5 predictions")]  # pictures before numbers
    assert list(_sections(maps)) == ["cam", "perturbation"]
    assert "### CAM { #family-cam }" in maps and "### Perturbation { #family-perturbation }" in maps
    figures = re.findall(r'<figure id="map-([a-z-]+)" data-method="([a-z-]+)"', maps)
    assert [f for f, m in figures if f == m] == [re.sub(r"[^a-z0-9-]", "-", m) for m in METHODS]
    assert maps.count('data-gallery="maps"') == 1 + len(METHODS)  # the photo and every map: one lightbox gallery


def test_methodology_gives_each_method_family_parameters_baseline_and_cost(built):
    results, site, root = built
    page = (site / "methodology" / "index.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in page.splitlines()
            if line.startswith("| ") and line.count(" | ") == 5}
    timings = json.loads((root / "out" / "timings.json").read_text())["attribution"]["items"]
    record = results["attribution"]["images"][0]["id"]
    lime = rows["LIME"]
    assert lime[1] == "Perturbation" and lime[2].startswith("Samples: 60; Superpixels: quickshift")
    assert lime[3] == "hidden superpixels filled with their mean colour"
    assert lime[4] == f"{timings[record]['lime']:.2f} (over 1 image)"
    assert rows["Score-CAM"][1:4] == ["CAM", r"CAM target layer \(above\)", "—"]
    assert rows["RISE"][3] == "hidden pixels take the normalisation mean"
    assert rows[r"Grad-CAM\+\+"][4] == f"{timings[record]['gradcam++']:.2f} (over 1 image)"
    assert len([r for r in rows.values() if r[1] in FAMILY_TITLES.values()]) == len(METHODS)


def test_families_keep_page_order_and_leave_out_empty_ones():
    def info(name, family):
        return MethodInfo(name=name, title=name.upper(), citation="c", family=family)

    section = AttributionSection.model_construct(methods=[info("b", "attention"), info("a", "gradient"),
                                                          info("c", None), info("d", "gradient"), info("e", "cam")])
    assert [(f.key, [m.name for m in f.methods]) for f in section.families()] == [
        ("cam", ["e"]), ("gradient", ["a", "d"]), ("attention", ["b"]), ("other", ["c"])]


def test_picker_labels_are_escaped():
    hostile = MethodInfo(name="x<y", title='<img src=x onerror=alert(1)> & "q"', citation="c", family="gradient")
    section = AttributionSection.model_construct(methods=[hostile])
    text = environment(TEMPLATES_DIR).get_template("method_picker.md.j2").render(families=section.families())
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;</label>" in text
    assert 'data-method="x-y"' in text


def test_the_ten_method_site_builds_strict(built):
    _, _, root = built
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (root / "site" / "attribution" / "gallery" / "index.html").read_text()
    assert html.count('class="xai-picker"') == 1 and 'id="family-perturbation"' in html
