"""The pages that lead with pictures: "Which method to trust", the home page's verdict and the Findings page, on
hand-made results (no compute): figures present and deterministic, a table row per method, every link to an
image page resolves, no "nan" anywhere, a strict MkDocs build; a large study's Findings shows thumbnails."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xai_report.attribution import dataset_level
from xai_report.attribution.metrics import trust
from xai_report.config import load_study
from xai_report.records import Results
from xai_report.render import metric_plots, plots, trust_page
from xai_report.render.site import render_site

from records_fill import filled

TINY_PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
            b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
METHODS = {"gradcam": "Grad-CAM", "lime": "LIME", "rise": "RISE"}
CATALOGUE = [
    {"name": "sparseness", "title": "Sparseness", "family": "complexity", "higher_is_better": True},
    {"name": "road", "title": "ROAD", "family": "faithfulness", "higher_is_better": False},
    {"name": "mprt", "title": "MPRT", "family": "randomisation", "higher_is_better": False},
]


def _faith(rng, m: str) -> dict:
    d, i = float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.3, 0.9))
    return {"deletion_auc": d, "insertion_auc": i, "deletion_curve": [1.0, d, 0.0], "insertion_curve": [0.0, i, 1.0],
            "beats_random_deletion": bool(rng.random() < 0.7), "beats_random_insertion": bool(rng.random() < 0.6)}


def _record(i: int, rng) -> dict:
    scores = {"sparseness": {m: {"value": float(rng.uniform(0.2, 0.8))} for m in METHODS},
              "road": {m: {"value": float(rng.uniform(0, 1))} for m in METHODS},
              "mprt": {m: {"value": float(rng.uniform(0, 1)),
                           "curve": [1.0, float(rng.uniform(0.3, 0.9)), float(rng.uniform(0, 0.3))]}
                       for m in METHODS}}
    scores["road"]["rise"] = {"value": None, "reason": "the metric gave no finite number"}
    twin = {k: {m: {"value": (s["value"] - 0.3 if s["value"] is not None else None)} for m, s in per.items()}
            for k, per in scores.items()}
    correct = i % 5 != 0
    return {"id": f"im{i}", "title": f"photo <{i}>", "file": f"im{i}.jpg", "photo": f"overlays/im{i}_photo.jpg",
            "methods": {m: {"map": f"maps/im{i}_{m}.npy", "overlay": f"overlays/im{i}_{m}.jpg"} for m in METHODS},
            "predictions": [{"index": 1, "name": "goldfish" if correct else "tench", "probability": 0.8}],
            "true_class": {"index": 1, "name": "goldfish", "wnid": None}, "correct": correct,
            "target": {"index": 1, "name": "goldfish", "rule": "top1", "why": "the top-1 class", "probability": 0.8},
            "metrics": {"faithfulness": {"fractions": [0, 0.5, 1], "methods": {m: _faith(rng, m) for m in METHODS},
                                         "random": {"deletion_auc": 0.4, "insertion_auc": 0.5, "low_res_hw": [7, 7],
                                                    "deletion_auc_std": 0.01, "insertion_auc_std": 0.01,
                                                    "seeds": [0, 1]}},
                        "agreement": {"pairs": [{"a": "gradcam", "b": "lime", "spearman": float(rng.uniform(-1, 1))}]}},
            "scores": scores, "randomised_scores": twin}


def _results(n: int) -> dict:
    rng = np.random.default_rng(n)
    images = [_record(i, rng) for i in range(n)]
    catalogue = [{**c, "citation": "x", "params": {}, "needs": [], "forward_passes": 1, "backward_passes": 0}
                 for c in CATALOGUE]
    rows = [dataset_level.scores_from_record(r) for r in images]
    att = {"model": {"key": "m", "layer": "bn2", "description": "a tiny model"},
           "methods": [{"name": k, "title": v, "citation": "x"} for k, v in METHODS.items()],
           "images": images, "accuracy": {"labelled": n, "correct": sum(r["correct"] for r in images), "wrong": []},
           "metric_catalogue": catalogue,
           "trust": trust.summary(images, catalogue, list(METHODS), samples=50, seed=0),
           "dataset": dataset_level.summary(rows, list(METHODS), samples=50, seed=0)}
    return filled({"study": {"title": "Trust", "seed": 0}, "attribution": att}).model_dump(mode="json", by_alias=True)


def _site(root: Path, n: int, figures: bool = True) -> Path:
    """A rendered site of ``n`` hand-made images (``figures``: draw the metric figures, else stand-ins)."""
    out = root / "out"
    value = _results(n)
    for record in value["attribution"]["images"]:
        for rel in [record["photo"], *(e["overlay"] for e in record["methods"].values())]:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (len(rel) * 7 % 255, 90, 140)).save(out / rel)
    (out / "results.json").write_text(json.dumps(value))
    (root / "images").mkdir()
    (root / "study.toml").write_text('title = "Trust"\noutput_dir = "out"\nsite_dir = "docs"\n[models.m]\n'
                                     'source = "packaged"\n[attribution]\nmodel = "m"\nimages = "images"\n')
    study = load_study(root / "study.toml")
    with pytest.MonkeyPatch.context() as patch:  # the image pages' own curves are not these pages' business
        patch.setattr(plots, "curves", lambda *args: TINY_PNG)
        for name in ([] if figures else ["forest", "standing", "sanity", "curves", "distributions"]):
            patch.setattr(metric_plots, name, lambda *args, **kwargs: TINY_PNG)
        if not figures:
            patch.setattr(plots, "agreement_matrix", lambda *args, **kwargs: TINY_PNG)
        render_site(study)
    return study.site_path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return _site(tmp_path_factory.mktemp("small"), 6)


def _links_resolve(site: Path, page: str) -> list[str]:
    """Every relative Markdown link and picture of ``page`` (docs path) to a file of the site; returns them."""
    text = (site / page).read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    for target in targets:
        if "://" in target or target.startswith("print_page"):
            continue
        assert (site / page).parent.joinpath(target).resolve().is_file(), (page, target)
    return targets


def test_trust_page_leads_with_figures_and_has_a_row_per_method(small):
    page = (small / "attribution" / "trust.md").read_text()
    figures = [f for f in trust_page.FIGURES.values() if f in page]
    assert figures == list(trust_page.FIGURES.values())  # standing, agreement, sanity, curves
    after_title = [line for line in page.split("# Which method to trust")[1].splitlines() if line.strip()]
    assert after_title[0].startswith("![") and "trust_standing.png" in after_title[0]  # the picture before any text
    table = page.split("## Methods and metrics")[1].split("| Metric | Family")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0][2:] for r in rows[1:]] == list(METHODS.values())
    header = rows[0]  # the catalogue's order (the figure groups them by family)
    assert header.index("Sparseness") < header.index("ROAD") < header.index("MPRT") and "ROAD ↓" in header
    home = (small / "index.md").read_text()  # the verdict lines go by family: faithfulness first
    assert home.index("Faithfulness \\(ROAD\\)") < home.index("Complexity \\(Sparseness\\)")
    assert "| LIME |" in page and "(rank " in page
    assert rows[3].split(" | ")[2] == "—"  # RISE has no ROAD value on any image: a dash, not a number
    targets = _links_resolve(small, "attribution/trust.md")
    assert sum(t.startswith("images/") for t in targets) >= 2  # the disagreeing images, each a thumbnail and a link
    assert "assets/overlays/" in page and 'class="xai-thumb-row"' in page
    assert "nan" not in page.lower()


def test_home_page_opens_with_the_verdict_figure(small):
    home = (small / "index.md").read_text()
    first = [line for line in home.splitlines() if line.strip()][1]
    second = [line for line in home.splitlines() if line.strip()][2]
    assert first.startswith("![Which method to trust") and "(assets/figures/trust_standing.png){ .xai-fig-wide" in first
    assert "(assets/figures/trust_standing_narrow.png){ .xai-fig-narrow" in second
    assert "Faithfulness \\(ROAD\\):" in home and re.search(r"rank(s)? first on 1 of 1", home)
    _links_resolve(small, "index.md")
    assert "nan" not in home.lower()


def test_findings_page_leads_with_figures_and_shows_maps(small):
    page = (small / "attribution" / "findings.md").read_text()
    assert page.index("findings_distributions.png") < page.index("findings_beats_random.png") < page.index("## ")
    cards = page.split("## Look here first")[1].split("## Per class")[0]
    assert cards.count('class="xai-look-card"') >= 3 and "#map-gradcam" in cards and "#map-photo" in cards
    assert "&lt;" in cards and "<0>" not in cards  # titles escaped
    _links_resolve(small, "attribution/findings.md")
    assert "nan" not in page.lower()


def test_a_study_without_metrics_keeps_a_home_page_without_a_figure(tmp_path):
    value = _results(3)
    value["attribution"]["trust"] = value["attribution"]["metric_catalogue"] = None
    from xai_report.render.site import _summary_pages

    pages = list(_summary_pages(Results.model_validate(value), {}))
    assert pages[0].context["trust"] is None


def test_figures_are_deterministic(small):
    """A second drawing of the same records gives the bytes the build wrote."""
    results = Results.model_validate_json((small.parent / "out" / "results.json").read_text())
    assets = {a.path: a for a in trust_page.figures(trust_page.view(results.attribution))}
    assert set(assets) == set(trust_page.FIGURES.values())
    for path in (trust_page.FIGURES["standing"], trust_page.FIGURES["sanity"]):
        assert assets[path].make() == (small / path).read_bytes()
    assert all((small / p).read_bytes().startswith(b"\x89PNG") for p in assets)


def test_mkdocs_strict_builds_the_pages(small):
    root = small.parent
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (root / "site" / "attribution" / "trust" / "index.html").read_text()
    assert "trust_standing.png" in html and "nan" not in re.sub(r"<[^>]+>", " ", html).lower().split()


def test_a_large_studys_findings_show_thumbnails(tmp_path):
    site = _site(tmp_path, 52, figures=False)
    page = (site / "attribution" / "findings.md").read_text()
    assert "assets/thumbs/" in page and "assets/overlays/" not in page
    _links_resolve(site, "attribution/findings.md")
    trust_md = (site / "attribution" / "trust.md").read_text()
    assert trust_md.count("assets/thumbs/") == len(Results.model_validate_json(
        (tmp_path / "out" / "results.json").read_text()).attribution.trust.disagree_most)
    assert "nan" not in page.lower() and "nan" not in trust_md.lower()


def test_no_page_shows_nan_or_inf(small):
    for page in small.rglob("*.md"):
        assert not re.search(r"\b(nan|inf)\b", page.read_text(), re.IGNORECASE), page
