"""End to end: a small study (two images, all methods, the real offline model) -> a strict MkDocs site."""

import json
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest
from click.testing import CliRunner

from xai_report.cli import main

from conftest import STUDY_IMAGES, write_study

pytestmark = pytest.mark.real_model
XSS_NAME = "<img src=x onerror=alert(1)>.jpg"
BENCH_RUN = {
    "mode": "quick",
    "settings": {"cam_size": 96},
    "machine": {"cpu_count": 2, "torch_threads": 2, "torch": "2.14.1", "device": "cpu",
                "device_name": "<b>Fast</b> CPU", "load_average_start": [0.5, 0.4, 0.3]},
    "results": [
        {"name": "score_cam_resnet50", "ours_s": 10.0, "baseline_s": 16.5, "ratio": 1.65, "goal": 1.5,
         "max_abs_diff": 9.2e-07, "details": {"passes": "1935/2048"}},
        {"name": "lime_resnet50", "ours_s": 10.0, "baseline_s": 12.0, "ratio": 1.2, "goal": 1.5,
         "max_abs_diff": 7e-07, "details": {}},
    ],
    "build": {"study": "studies/offline.toml", "cold_s": 600.0, "warm_s": 3.2, "render_s": 4.1, "pages": 20},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    images = root / "images"
    images.mkdir()
    shutil.copy(STUDY_IMAGES / "n01443537_goldfish.JPEG", images)
    shutil.copy(STUDY_IMAGES / "n02007558_flamingo.JPEG", images / XSS_NAME)
    (root / "bench").mkdir()
    (root / "bench" / "cpu-quick.json").write_text(json.dumps(BENCH_RUN))
    study = write_study(root, images, methods=("gradcam", "ablationcam", "scorecam", "lime"),
                        extra="batch_size = 64\ndeletion_steps = 10", metrics=True, randomised=True,
                        model='benchmarks = "bench"\n[models.m]\nsource = "packaged"\n')
    result = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert result.exit_code == 0, result.output
    return root, study, result.output


def test_build_then_rebuild_reuses_everything(built):
    root, study, output = built
    # 2 images x (predictions + 4 methods + metrics + unit maps + 4 methods on the randomised model + map measures
    # + the default registry metric, sparseness, on the 4 trained and the 4 randomised maps)
    assert "computed 40 artifacts" in output
    again = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert again.exit_code == 0 and "nothing to compute: reused 40 cached artifacts" in again.output


def test_results_json_lists_everything(built):
    root, _, _ = built
    results = json.loads((root / "out" / "results.json").read_text())
    images = results["attribution"]["images"]
    assert {r["file"] for r in images} == {"n01443537_goldfish.JPEG", XSS_NAME}
    for record in images:
        assert set(record["methods"]) == {"gradcam", "ablationcam", "scorecam", "lime"}
        assert record["target"]["index"] == record["predictions"][0]["index"]
    assert results["attribution"]["model"]["preprocess"]["mean"] == [0.5, 0.5, 0.5]


def test_results_json_validates_against_the_schema_beside_it(built):
    root, _, _ = built
    results = json.loads((root / "out" / "results.json").read_text())
    schema = json.loads((root / "out" / "results.schema.json").read_text())
    jsonschema.validate(results, schema, cls=jsonschema.Draft202012Validator)
    assert results["schema_version"] == schema["properties"]["schema_version"]["default"]
    assert not (root / "site_src" / "assets" / "results.schema.json").exists()  # raw results are not published here


def test_pages_say_what_is_explained_and_escape_names(built):
    root, _, _ = built
    site = root / "site_src"
    goldfish = (site / "attribution" / "images" / "n01443537_goldfish.md").read_text()
    assert "Explained class: goldfish (index 1" in goldfish
    assert "the model&#x27;s top-1 prediction" in goldfish
    for method in ("gradcam", "ablationcam", "scorecam", "lime"):
        assert f"assets/overlays/n01443537_goldfish_{method}.jpg" in goldfish
        assert (site / "assets" / "overlays" / f"n01443537_goldfish_{method}.jpg").is_file()
    pages = "".join(p.read_text() for p in site.rglob("*.md"))
    assert "<img src=x" not in pages and "&lt;img src=x onerror=alert\\(1\\)&gt;" in pages


def test_image_pages_show_the_neurons_behind_the_prediction(built):
    """EfficientNet-Lite0's head is global average pooling then one linear layer: the explained logit is the sum
    of its bn2 units' contributions, listed on the page with how much of the evidence they carry."""
    root, _, _ = built
    results = json.loads((root / "out" / "results.json").read_text())
    record = next(r for r in results["attribution"]["images"] if r["file"] == "n01443537_goldfish.JPEG")
    neurons = record["neurons"]
    assert neurons["layer"] == "bn2" and neurons["units_total"] == 1280 and len(neurons["units"]) == 10
    assert 0 < neurons["shown_share"] < 1
    page = (root / "site_src" / "attribution" / "images" / "n01443537_goldfish.md").read_text()
    assert "## Neurons behind this prediction" in page and "not dissected" in page
    first = next(line for line in page.splitlines() if line.startswith(f"| {neurons['units'][0]['unit']} |"))
    assert "not dissected" in first and neurons["units"][0]["map"] in first  # its activation map beside it
    assert (root / "out" / neurons["units"][0]["map"]).is_file()
    assert "of the positive evidence" in page


def test_methodology_page_shows_the_benchmark_results(built):
    root, _, _ = built
    page = (root / "site_src" / "methodology" / "index.md").read_text()
    assert "| <code>score\\_cam\\_resnet50</code> | 10.00 | 16.50 | 1.65x | 1.5x met |" in page
    assert "| <code>lime\\_resnet50</code> | 10.00 | 12.00 | 1.20x | 1.5x not met |" in page
    assert "| Cold (nothing cached) | 600.0 |" in page and "| Warm rebuild (nothing changed) | 3.2 |" in page
    assert "<b>" not in page and "&lt;b&gt;Fast&lt;" in page  # the device name is text


def test_mkdocs_build_strict(built):
    root, _, _ = built
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (root / "site" / "attribution" / "images" / "img-src-x-onerror-alert-1" / "index.html").read_text()
    # Material writes the page title into <title> through striptags, which un-escapes it; <title> is raw text
    # (RCDATA) to the browser, so no element can start there. Everywhere else the name must stay escaped.
    head, title_and_rest = html.split("<title>", 1)
    body = head + title_and_rest.split("</title>", 1)[1]
    assert "<img src=x" not in body and "onerror=alert(1)&gt;" in body
    gallery = (root / "site" / "attribution" / "gallery" / "index.html").read_text()
    assert len(re.findall(r"<img [^>]*_scorecam\.jpg", gallery)) == 2  # one map per image (each in a lightbox link)


def test_randomised_model_check_on_results_and_pages(built):
    """The study asks for the sanity check: each method explained again on a re-initialised copy of the model, the
    two maps compared per image, the copy's map shown on the image page, the summary on the home page."""
    root, _, _ = built
    results = json.loads((root / "out" / "results.json").read_text())
    section = results["attribution"]
    methods = [m["name"] for m in section["methods"]]
    for record in section["images"]:
        assert sorted(record["randomised"]) == sorted(methods)
        for entry in record["randomised"].values():
            assert entry["spearman"] is None or -1.0 <= entry["spearman"] <= 1.0
            assert (root / "out" / entry["overlay"]).is_file()
    assert sorted(section["randomised"]) == sorted(methods)
    page = (root / "site_src" / "attribution" / "images" / "n01443537_goldfish.md").read_text()
    assert "## Sanity check: the same methods on a randomised model" in page
    assert "n01443537_goldfish_gradcam_randomised.jpg" in page
    assert "mean rank correlation between each method" in (root / "site_src" / "index.md").read_text()
