"""File names, concept words and config strings are data: they reach every page as text, and no name can
make the renderer write outside the site folder.

The study here uses the tiny test model (the pages do not care which model made the maps), hostile file
names, a hostile title, description and model key, and is built to HTML with MkDocs; the HTML is parsed
and checked element by element.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
from click.testing import CliRunner

from xai_report.cli import main
from xai_report.paths import TEMPLATES_DIR
from xai_report.render.markdown import environment

from conftest import STUDY_IMAGES, build_with_tiny_model, tiny_loaded_model, write_study

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_TITLE = '<script>alert("title")</script> & "quotes" 🐟'
NAMES = [
    f"{XSS_IMG}.jpg",
    "..%2F..%2Fevil.jpg",
    "..\\..\\evil2.jpg",
    "....jpg",
    "<script>alert(2)<.png",
    "[link](javascript:alert(3)).jpg",
    "{: onclick=alert(4) }.jpg",
    "*bold* _it_ `tick` |pipe|.jpg",
    "&lt;b&gt; entity.jpg",
]
SLUG = re.compile(r"^[A-Za-z0-9_-]+\.md$")


class Page(HTMLParser):
    """Every element with its attributes, and the text outside tags (entities decoded).

    Like a browser, it reads <title> and <textarea> as text up to their end tag (RCDATA): there a file
    name such as ``<img src=x onerror=...>`` is inert text, which MkDocs puts in <title> unescaped.
    """

    CDATA_CONTENT_ELEMENTS = ("script", "style", "title", "textarea")

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.script_text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        (self.script_text if self._in_script else self.text).append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def assert_no_active_content(page: Page, where: str) -> None:
    for tag, attrs in page.elements:
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, f"{where}: <{tag}> has event handler attributes {handlers}"
        assert tag not in ("iframe", "object", "embed"), f"{where}: <{tag}> element"
        for name in ("href", "src", "action", "formaction"):
            value = attrs.get(name, "").strip().lower()
            assert not value.startswith(("javascript:", "data:text/html", "vbscript:")), f"{where}: {name}={value!r}"
        if tag == "img":
            assert attrs.get("src") != "x", f"{where}: the file name became an <img> element"
    for script in page.script_text:
        assert "alert(" not in script, f"{where}: a script element carries data: {script[:80]!r}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("safe")
    images = root / "images"
    images.mkdir()
    for i, name in enumerate(NAMES):
        source = STUDY_IMAGES / ("n01443537_goldfish.JPEG" if i % 2 else "n07747607_orange.JPEG")
        shutil.copy(source, images / name)
    model_key = "<b>m</b>"
    study = write_study(root, images, methods=("gradcam",), layer="features",
                        model=f'[models."{model_key}"]\nsource = "packaged"\n')
    text = study.read_text().replace('model = "m"', f'model = "{model_key}"')
    text = text.replace('title = "test study"', "title = " + json.dumps(XSS_TITLE, ensure_ascii=False) + "\ndescription = "
                        + json.dumps("<iframe src=javascript:alert(5)></iframe> [click](javascript:alert(6)) **x**"))
    study.write_text(text)
    before = {p for p in root.rglob("*")}

    build_with_tiny_model(study)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(p for p in root.rglob("*") if p not in before)
    return root, written, json.loads((root / "out" / "results.json").read_text())


def test_every_name_is_built_or_reported(site):
    root, _, results = site
    section = results["attribution"]
    built = {r["file"] for r in section["images"]}
    skipped = {s["file"] for s in section["skipped"]}
    assert built | skipped == set(NAMES) and not built & skipped
    assert f"{XSS_IMG}.jpg" in built and "..%2F..%2Fevil.jpg" in built
    for record in section["images"]:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", record["id"]), record["id"]


def test_nothing_is_written_outside_the_output_and_site_folders(site):
    root, written, _ = site
    allowed = [root / "out", root / "site_src", root / "site"]
    for path in written:
        assert path == root / "mkdocs.yml" or any(path == a or a in path.parents for a in allowed), path
    assert not [p for p in root.parent.glob("evil*")] and not list(root.glob("evil*"))
    pages = root / "site_src" / "attribution" / "images"
    for page in pages.iterdir():
        assert SLUG.match(page.name), page.name
    for path in (root / "out" / "maps").iterdir():
        assert re.fullmatch(r"[A-Za-z0-9_-]+_[a-z+_-]+\.npy", path.name), path.name


def test_built_html_shows_names_and_config_strings_as_text(site):
    root, _, results = site
    html_files = sorted((root / "site").rglob("*.html"))
    assert len(html_files) >= len(NAMES) + 4
    for path in html_files:
        assert_no_active_content(Page(path.read_text(encoding="utf-8")), str(path.relative_to(root)))

    xss_id = next(r["id"] for r in results["attribution"]["images"] if r["file"] == f"{XSS_IMG}.jpg")
    image_page = Page((root / "site" / "attribution" / "images" / xss_id / "index.html").read_text())
    assert f"{XSS_IMG}.jpg" in image_page.all_text  # the file name, as text
    home = Page((root / "site" / "index.html").read_text())
    assert XSS_TITLE in home.all_text  # the title, as text (in <title>, the header and the heading)
    assert "[click](javascript:alert(6))" in home.all_text and "<iframe" in home.all_text
    gallery = Page((root / "site" / "attribution" / "gallery" / "index.html").read_text())
    for record in results["attribution"]["images"]:
        assert record["title"] in gallery.all_text, record["title"]  # each name, literally, as link text
    assert "<script>alert(2)<" in gallery.all_text and "[link](javascript:alert(3))" in gallery.all_text
    methodology = Page((root / "site" / "methodology" / "index.html").read_text())
    assert "<b>m</b>" not in [tag for tag, _ in methodology.elements]
    for skipped in results["attribution"]["skipped"]:
        assert skipped["file"] in methodology.all_text


def test_concept_words_render_as_text():
    """What the dissection pages do with concepts: a template value and the code filter, then Markdown."""
    env = environment(TEMPLATES_DIR)
    template = env.from_string("| Neuron | Concept |\n|---|---|\n| 7 | {{ c }} |\n\nTop concept {{ c|code }} and **{{ c }}**.\n")
    md = markdown.Markdown(extensions=["tables", "attr_list", "md_in_html", "admonition"])
    for concept in ["<script>alert(1)</script>", "[x](javascript:alert(1))", "{: onclick=alert(1) }", "a|b", "&amp;",
                    "only ~38% (x^2, $5)"]:  # no backslash shows before ~, ^ or $
        html = md.reset().convert(template.render(c=concept))
        page = Page(html)
        assert_no_active_content(page, concept)
        assert page.all_text.replace("\u200b", "").count(concept) == 3, (concept, html)
        assert "script" not in [tag for tag, _ in page.elements]


def test_data_in_a_heading_cannot_close_the_title_element(tmp_path):
    """MkDocs unescapes a page's H1 into <title>: a model label or layer name "</title><script>..." in a
    heading (the dissection pages have them) must stay text there too."""
    label = "</title><script>alert(7)</script>"
    env = environment(TEMPLATES_DIR)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n")
    (docs / "model.md").write_text(env.from_string("# {{ label }}: layer4\n\nText about {{ label }}.\n").render(label=label))
    (tmp_path / "mkdocs.yml").write_text("site_name: t\ndocs_dir: docs\ntheme:\n  name: material\n  font: false\n")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(tmp_path / "mkdocs.yml")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = Page((tmp_path / "site" / "model" / "index.html").read_text())
    assert_no_active_content(page, "model page")
    assert "alert(7)" in page.all_text  # shown as text, in <title> and in the article


def test_stale_page_removal_never_leaves_the_site(tmp_path, monkeypatch):
    """A manifest edited to name files outside the site must not make a render delete them."""
    import xai_report.stage as stage_mod

    monkeypatch.setattr(stage_mod, "load_model", lambda spec, offline: tiny_loaded_model())
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(STUDY_IMAGES / "n01443537_goldfish.JPEG", images)
    study = write_study(tmp_path, images, methods=("gradcam",), layer="features")
    assert CliRunner().invoke(main, ["build", "--study", str(study)]).exit_code == 0
    precious = [tmp_path / "precious.txt", tmp_path / "out" / "keep.txt"]
    for path in precious:
        path.write_text("mine")
    manifest = tmp_path / "site_src" / ".xai-generated.json"
    names = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(names + ["../precious.txt", "attribution/../../out/keep.txt", str(precious[0])]))
    result = CliRunner().invoke(main, ["render", "--study", str(study)])
    assert result.exit_code == 0, result.output
    assert all(path.read_text() == "mine" for path in precious)
