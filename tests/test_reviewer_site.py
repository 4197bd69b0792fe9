"""The reviewer's site without a browser: neuron cards, permalinks between the halves of the site, the raw
results copied under it, the generated mkdocs.yml, and progress lines in a log. (tests/test_browser.py checks
the same site in Chromium: lightbox, sorting, wide pages, downloads.)"""

from __future__ import annotations

import io
from pathlib import Path

import jinja2
import markdown
import numpy as np
import pytest

from xai_report.config import load_study
from xai_report.errors import ConfigError
from xai_report.paths import TEMPLATES_DIR
from xai_report.progress import Progress
from xai_report.records import DissectedModel, DissectionSection, Layer
from xai_report.render import links, publish
from xai_report.render.markdown import Safe, environment

from conftest import STUDY_IMAGES
from records_fill import filled

HOSTILE = "<b>x</b> [y](javascript:alert(1))"


def _unit(unit: int, label: str, score: float, semantic: bool, dead: bool = False, **extra) -> dict:
    return {"unit": unit, "label": label, "similarity": score, "runners_up": [["tench", 0.2], ["reel", 0.1]],
            "semantic": semantic, "dead": dead, "category": "animal", "rank": unit + 1,
            "strip": f"dissection/strips/m/l/{unit}.jpg", **extra}


def _render_layer(layer: dict, layer_images: dict) -> str:
    env = environment(TEMPLATES_DIR)
    dis = filled({"parameters": {"strip_images": 5, "random_null_quantile": 0.95}}, DissectionSection)
    text = env.get_template("dissection_layer.md.j2").render(
        model=filled({"label": "M", "key": "m", "slug": "m"}, DissectedModel), layer=filled(layer, Layer), dis=dis,
        source="", root=Safe("../../"), layer_images=layer_images, raw=False)
    return markdown.Markdown(extensions=["tables", "attr_list", "md_in_html", "admonition", "pymdownx.details",
                                         "meta"]).convert(text)


def test_neuron_cards_show_score_threshold_runners_up_and_mark_weak_labels():
    units = [_unit(0, "goldfish", 0.42, True, passes={"shuffle": True, "random": True}),
             _unit(1, HOSTILE, 0.12, False, passes={"shuffle": True, "random": False}),
             _unit(2, "dog", 0.05, False, dead=True)]
    layer = {"name": "bn2", "slug": "bn2", "units": units, "null_threshold": 0.25, "threshold": 0.3, "spatial": True,
             "neurons": 3, "distinct_concepts": 3, "semantic": {"share": 1 / 3}, "dead": 1}
    seen = {0: [links.UnitImage("n01443537_goldfish", "goldfish", 0.12, 1.0)]}
    html = _render_layer(layer, seen)
    cards = html.split('class="xai-neuron')[2:]  # [1] is the .xai-neurons grid
    assert len(cards) == 3
    assert cards[0].startswith('" id="unit-0"') and cards[1].startswith(' xai-weak" id="unit-1"')
    assert cards[2].startswith(' xai-weak" id="unit-2"') and ">dead<" in cards[2]
    assert ">weak<" in cards[1] and ">weak<" not in cards[0]
    assert "score 0.420 against the threshold 0.300" in cards[0]
    assert "random null: failed" in cards[1] and "shuffle null: passed" in cards[1]
    assert "Runners-up: tench (0.200), reel (0.100)" in cards[0]
    assert 'href="../../attribution/images/n01443537_goldfish.md#neurons"' in cards[0] and "12.0%" in cards[0]
    assert 'loading="lazy"' in cards[0] and 'data-gallery="unit-0"' in cards[0]
    assert "<b>" not in html and "&lt;b&gt;x" in html and 'href="javascript' not in html  # the label is text
    # the sortable table of all neurons links each unit to its card
    assert 'href="#unit-1"' in html and "<th>Importance rank</th>" in html


def test_neuron_cards_read_the_layers_threshold_and_say_nothing_of_tests_a_neuron_has_none_of():
    layer = {"name": "bn2", "slug": "bn2", "units": [_unit(0, "goldfish", 0.42, True)], "null_threshold": 0.25,
             "threshold": 0.4, "spatial": True, "neurons": 1, "distinct_concepts": 1, "semantic": {"share": 1.0}, "dead": 0}
    html = _render_layer(layer, {})
    assert "score 0.420 against the threshold 0.400" in html and "null:" not in html and "Matters most" not in html


def _results():
    record = lambda i, shares: {"id": f"img{i}", "title": f"image {i}", "photo": f"overlays/img{i}_photo.jpg",
                                "methods": {"lime": {"map": f"maps/img{i}_lime.npy", "overlay": f"overlays/img{i}_lime.jpg",
                                                     "segments": f"maps/img{i}_lime_segments.npy", "score": 0.5}},
                                "neurons": {"units": [{"unit": u, "contribution": c, "share": s} for u, c, s in shares]}}
    return filled({"attribution": {"model": {"key": "m", "layer": "bn2"},
                                   "images": [record(0, [(7, 2.0, 0.2), (3, -1.0, None)]), record(1, [(7, 1.0, 0.4)])]},
                   "dissection": {"models": [{"key": "m", "slug": "My_Model", "layers": [{"name": "bn2", "slug": "bn2"}]}],
                                  "assets": []}})


def test_units_link_to_their_cards_and_cards_to_the_images_where_they_matter_most():
    results = _results()
    assert links.layer_page(results, "m", "bn2") == "dissection/my_model/bn2.md"
    assert links.layer_page(results, "m", "fc") is None and links.layer_page(results, "other", "bn2") is None
    found = links.unit_images(results)["m"]["bn2"]
    assert [h.id for h in found[7]] == ["img1", "img0"]  # the larger share first
    assert 3 not in found  # a unit with negative evidence only is not said to matter for the image
    assert links.unit_images(filled({"attribution": {"model": {"key": "m", "layer": "x"}, "images": []}})) == {}


def _study(tmp_path: Path, extra: str = "") -> Path:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    (images / "a.JPEG").write_bytes((STUDY_IMAGES / "n01443537_goldfish.JPEG").read_bytes())
    path = tmp_path / "study.toml"
    path.write_text(f'title = "A <b>study</b>: \\"q\\""\noutput_dir = "out"\nsite_dir = "docs"\n{extra}\n'
                    f'[models.m]\nsource = "packaged"\n[attribution]\nmodel = "m"\nimages = "images"\n')
    return path


def test_raw_results_are_copied_under_the_site_only_when_published(tmp_path):
    results = _results()
    out = tmp_path / "out"
    for rel in ["results.json", "results.schema.json"] + [v for r in results.attribution.images for v in r.files()]:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(rel.encode())
    site = tmp_path / "docs"
    shown = publish.copy_assets(load_study(_study(tmp_path)), results, site)
    assert "assets/overlays/img0_lime.jpg" in shown and not any(p.endswith((".npy", ".json")) for p in shown)
    published = publish.copy_assets(load_study(_study(tmp_path, "publish_raw = true")), results, site)
    assert {"assets/maps/img0_lime.npy", "assets/maps/img0_lime_segments.npy", "assets/results.json",
            "assets/results.schema.json"} <= set(published)
    assert (site / "assets" / "maps" / "img1_lime.npy").read_bytes() == b"maps/img1_lime.npy"
    assert len(published) == len(set(published))


def test_mkdocs_yml_carries_the_study_urls_and_a_hand_written_one_stays(tmp_path):
    study = load_study(_study(tmp_path, 'site_url = "https://me.github.io/r/"\nrepo_url = "https://github.com/me/r"'))
    config = publish.ensure_mkdocs_yml(study, _results())
    text = config.read_text()
    assert '        - "dissection/my_model/bn2.md"' in text  # the neuron galleries stay out of the single-file report
    assert text.startswith(publish.MKDOCS_MARKER)
    assert 'site_url: "https://me.github.io/r/"' in text and 'repo_url: "https://github.com/me/r"' in text
    assert 'site_name: "A &lt;b&gt;study&lt;/b&gt;: &quot;q&quot;"' in text
    assert "glightbox" in text and "print-site" in text and "javascripts/xai-report.js" in text
    assert (tmp_path / "docs" / "javascripts" / "xai-report.js").is_file()
    config.write_text("site_name: mine\n")
    publish.ensure_mkdocs_yml(study)
    assert config.read_text() == "site_name: mine\n"


def test_a_site_url_must_be_an_http_address(tmp_path):
    with pytest.raises(ConfigError, match=r"site_url: 'me.github.io' is not an http\(s\) address"):
        load_study(_study(tmp_path, 'site_url = "me.github.io"'))


def test_off_a_terminal_each_finished_part_prints_one_line_with_its_time():
    log = io.StringIO()
    progress = Progress("attribution", parts=2, steps=3, stream=log, tty=False)
    progress.step(3, "a lime")
    progress.done("a")
    assert log.getvalue().count("\n") == 1
    progress.step(3)
    progress.done("b")
    progress.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("attribution: 1/2 a in ") and "left)" in lines[0]
    assert lines[1].startswith("attribution: 2/2 b in ") and lines[1].endswith("about 0:00 left)")


def test_on_a_terminal_one_bar_and_no_lines():
    log = io.StringIO()
    progress = Progress("attribution", parts=2, steps=1, stream=log, tty=True)
    for name in ("a", "b"):
        progress.step(1, name)
        progress.done(name)
    progress.close()
    text = log.getvalue()
    assert "attribution" in text and "2/2" in text  # tqdm's bar: counts (and rate, time left)
    assert "a in " not in text and "b in " not in text  # the bar, not the log lines


def test_lime_draws_no_progress_bar_of_its_own(tiny_model, capfd):
    from xai_report.attribution.methods.lime_explainer import explain_lime

    rgb = np.random.default_rng(0).random((32, 32, 3))
    explain_lime(tiny_model.module, rgb, tiny_model.preprocess, 1, num_samples=20, batch_size=10, kernel_size=2,
                 max_dist=20, seed=0, device="cpu")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
