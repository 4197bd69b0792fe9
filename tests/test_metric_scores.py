"""The metric registry through the build: the ``[metrics]`` table checked before compute, scores cached per image,
method map and metric (the trained model's and the randomised twin's), typed in results.json against its published
schema, the "Which method to trust" numbers (against numpy/scipy on hand-made records) and its page."""

from __future__ import annotations

import json
import math
import shutil
from itertools import combinations

import jsonschema
import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from xai_report import fingerprint
from xai_report.attribution.dataset_level import bootstrap_mean
from xai_report.attribution.metrics import trust
from xai_report.attribution.metrics.base import Metric, MetricInput, NoParams, Passes, Score
from xai_report.attribution.metrics.plan import plan
from xai_report.attribution.metrics.registry import METRICS
from xai_report.attribution.metrics.rerun_adapter import prepared_from_tensor
from xai_report.data import normalise
from xai_report.errors import ConfigError
from xai_report.models.preprocess import Preprocess
from xai_report.pipeline import load_study, run_stages
from xai_report.render.site import render_site
from xai_report.results import schema_text

from conftest import tiny_loaded_model, write_study

PACKAGE_DIR = fingerprint.PACKAGE_DIR


# -- test-only metrics: one needing the boxes, one re-running the method -----------------------------------------


def box_share(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """The share of each map's absolute mass inside the boxes."""
    out = {}
    for m, saliency in inputs.maps.items():
        mass = np.abs(saliency.astype(np.float64))
        out[m] = Score.of(mass[inputs.boxes].sum() / mass.sum())
    return out


def rerun_gap(inputs: MetricInput, params: NoParams, seed: int) -> dict[str, Score]:
    """The largest difference between a method's stored map and its re-run on the same input (0 when the adapter
    gives the method the very image it explained), and a two-point curve (the gap, then nan)."""
    out = {}
    for m, saliency in inputs.maps.items():
        again = inputs.explainers[m](inputs.model, inputs.x, inputs.target)
        gap = float(np.abs(again - saliency).max())
        out[m] = Score.of(gap, curve=(gap, math.nan))
    return out


BOX_SHARE = Metric("box_share", "Box share", "localisation", "test", True, box_share, lambda p: Passes(0),
                   needs=frozenset({"boxes"}))
RERUN_GAP = Metric("rerun_gap", "Rerun gap", "robustness", "test", False, rerun_gap, lambda p: Passes(1, 1),
                   needs=frozenset({"explain"}))


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(METRICS, "box_share", BOX_SHARE)
    monkeypatch.setitem(METRICS, "rerun_gap", RERUN_GAP)


def _study_file(tmp_path, image_folder, metrics: str = ""):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("file,wnid,x0,y0,x1,y1,object\nn01443537_goldfish.JPEG,n01443537,28,50,298,212,goldfish\n")
    path = write_study(tmp_path, image_folder, methods=("gradcam", "lime"), layer="features", randomised=True,
                       extra=f'boxes = "{boxes.as_posix()}"\nbootstrap_samples = 200', scores=None)
    path.write_text(path.read_text() + "\n[metrics]\n" + (metrics or
                    'run = ["sparseness", "box_share", "rerun_gap"]\nrerun_methods = ["gradcam", "lime"]\n'))
    return path


# -- the [metrics] table ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("table, error", [
    ('run = ["sparsenes"]', "metrics.run: unknown metric 'sparsenes'; allowed: road, "),
    ('run = "sparseness"', "metrics.run: expected list of str"),
    ('rerun_methods = ["rise"]', "metrics.rerun_methods: 'rise' is not in attribution.methods (gradcam, lime)"),
    ('[metrics.sparseness]\nsteps = 3', "unknown key metrics.sparseness.steps; allowed: "),
    ('[metrics.faithfulnes]\nsteps = 3', "unknown key metrics.faithfulnes; allowed: run, rerun_methods"),
    ('runs = []', "unknown key metrics.runs; allowed: run, rerun_methods"),
])
def test_a_bad_metrics_table_stops_with_one_line_before_compute(tmp_path, image_folder, table, error):
    path = _study_file(tmp_path, image_folder, table + "\n")
    with pytest.raises(ConfigError) as caught:
        load_study(path)
    assert error in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("study.toml: ")
    assert not (tmp_path / "out").exists()  # nothing ran


def test_the_default_plan_is_the_cheap_metrics_and_the_one_pass_methods(tmp_path, image_folder, registered):
    found = plan(load_study(_study_file(tmp_path, image_folder, "\n")))
    # rerun_gap needs a re-run and box_share the boxes (which the study gives): the cheap default takes the latter
    names = [p.metric.name for p in found.metrics]
    assert "box_share" in names and "rerun_gap" not in names and "sparseness" in names
    costs = {n: METRICS[n].cost(METRICS[n].params()) for n in names}
    assert all(c.forward + c.backward <= 32 and not c.solves for c in costs.values()), costs
    assert all(METRICS[n].needs <= {"boxes"} for n in names)
    cost = {n: m.cost(m.params()) for n, m in METRICS.items()}
    cheap = [n for n, m in METRICS.items() if not m.needs and cost[n].forward + cost[n].backward <= 32 and not cost[n].solves]
    assert "road" not in cheap  # its imputations are sparse solves of the image's size
    assert [n for n in names if not METRICS[n].needs] == cheap  # every cheap metric, in the registry's order
    assert found.rerun_methods == ("gradcam",)  # LIME takes about 1000 passes
    no_boxes = write_study(tmp_path, image_folder, methods=("gradcam", "lime"), scores=None)
    assert [p.metric.name for p in plan(load_study(no_boxes)).metrics] == cheap
    no_boxes.write_text(no_boxes.read_text() + '\n[metrics]\nrun = ["box_share"]\n')
    with pytest.raises(ConfigError, match="box_share needs object boxes; set attribution.boxes"):
        load_study(no_boxes)


def test_a_rerun_sees_the_image_it_is_given():
    pre = Preprocess(resize=4, crop=4, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    rgb = np.random.default_rng(0).uniform(-0.2, 1.2, size=(4, 4, 3)).astype(np.float32)  # leaves [0, 1]: not clipped
    x = normalise(rgb, pre)
    image = prepared_from_tensor(x, pre)
    assert torch.equal(image.tensor, x)
    np.testing.assert_allclose(image.rgb, rgb, atol=1e-6)


# -- "Which method to trust" on hand-made records ---------------------------------------------------------------


def _record(i: int, trained: dict, twin: dict | None = None) -> dict:
    def shape(values):
        return {metric: {m: {"value": v} for m, v in per.items()} for metric, per in values.items()}

    return {"id": f"im{i}", "title": f"image {i}", "scores": shape(trained),
            **({"randomised_scores": shape(twin)} if twin else {})}


CATALOGUE = [{"name": "up", "higher_is_better": True}, {"name": "down", "higher_is_better": False},
             {"name": "flat", "higher_is_better": True}]
METHODS = ["a", "b", "c"]


def _records() -> list[dict]:
    rng = np.random.default_rng(3)
    records = []
    for i in range(6):
        up = {"a": 3 + rng.normal(0, .1), "b": 2 + rng.normal(0, .1), "c": 1 + rng.normal(0, .1)}
        down = {"a": rng.normal(), "b": rng.normal(), "c": None if i == 0 else rng.normal()}
        flat = {"a": 0.5, "b": 0.5 + 0.01 * i, "c": 0.5}
        twin = {"up": {m: v - 1 for m, v in up.items()}, "down": down, "flat": flat}
        records.append(_record(i, {"up": up, "down": down, "flat": flat}, twin))
    return records


def test_trust_numbers_equal_numpy_and_scipy_on_hand_made_records():
    records = _records()
    found = trust.summary(records, CATALOGUE, METHODS, samples=200, seed=5)
    up = {m: [r["scores"]["up"][m]["value"] for r in records] for m in METHODS}
    standing = {s["metric"]: s for s in found["standing"]}
    for m in METHODS:
        assert standing["up"]["methods"][m]["mean"] == round(float(np.mean(up[m])), 6)
        assert standing["up"]["methods"][m]["low"] == bootstrap_mean(up[m], 200, 5)["low"]
    assert [standing["up"]["methods"][m]["rank"] for m in METHODS] == [1, 2, 3]  # far apart: distinct ranks
    assert standing["down"]["methods"]["c"]["n"] == 5  # the image without a value is left out
    flat_ranks = [standing["flat"]["methods"][m]["rank"] for m in METHODS]
    assert flat_ranks[0] == flat_ranks[2]  # a and c are constant, equal: tied

    # tau per image (oriented: "down" negated), averaged over the images where it is defined
    def values(r, metric):
        return {m: e["value"] for m, e in r["scores"][metric].items()}

    expected = []
    for r in records:
        a, b = values(r, "up"), values(r, "down")
        common = [m for m in METHODS if a[m] is not None and b[m] is not None]
        expected.append(kendalltau([a[m] for m in common], [-b[m] for m in common]).statistic)
    pair = next(p for p in found["agreement"] if (p["a"], p["b"]) == ("up", "down"))
    assert pair["tau"]["mean"] == pytest.approx(np.mean(expected), abs=1e-6) and pair["tau"]["n"] == 6
    flat_pairs = next(p for p in found["agreement"] if (p["a"], p["b"]) == ("up", "flat"))
    assert flat_pairs["tau"]["n"] == 5  # image 0's flat values are all equal: tau undefined there
    per_image = [np.mean([t for t in trust.image_taus(trust.values_of(r["scores"]),
                                                      {c["name"]: c["higher_is_better"] for c in CATALOGUE},
                                                      METHODS).values()]) for r in records]
    assert [d["id"] for d in found["disagree_most"]] == [f"im{i}" for i in np.argsort(per_image, kind="stable")]

    sanity = {s["metric"]: s for s in found["sanity"]}
    assert sanity["up"]["difference"]["mean"] == pytest.approx(1.0) and not sanity["up"]["flagged"]
    assert sanity["down"]["flagged"] and sanity["flat"]["flagged"]  # the twin scores the same: cannot tell


def test_mean_curves_skip_non_finite_points():
    records = [{"scores": {"mprt": {"a": {"value": 1, "curve": [1.0, None, 0.2]}}}},
               {"scores": {"mprt": {"a": {"value": 1, "curve": [0.5, None, 0.4]}}}}]
    assert trust.curves([r["scores"] for r in records]) == {"mprt": {"a": [0.75, None, 0.3]}}


# -- the build --------------------------------------------------------------------------------------------------


def test_a_build_scores_every_map_caches_each_score_and_shows_the_trust_page(tmp_path, image_folder, registered,
                                                                             monkeypatch):
    study = load_study(_study_file(tmp_path, image_folder))
    first = run_stages(study, loaded={"m": tiny_loaded_model()})
    value = json.loads((study.output_path / "results.json").read_text())
    jsonschema.Draft202012Validator(json.loads(schema_text())).validate(value)
    att = value["attribution"]
    assert [m["name"] for m in att["metric_catalogue"]] == ["sparseness", "box_share", "rerun_gap"]
    by_file = {r["file"]: r for r in att["images"]}
    goldfish, orange = by_file["n01443537_goldfish.JPEG"], by_file["n07747607_orange.JPEG"]
    for record in (goldfish, orange):
        for key in ("scores", "randomised_scores"):
            assert set(record[key]) == {"sparseness", "box_share", "rerun_gap"}
            assert all(set(per) == {"gradcam", "lime"} for per in record[key].values())
        for m in ("gradcam", "lime"):  # the adapter hands each method the image it explained: the same map
            assert record["scores"]["rerun_gap"][m]["value"] == 0.0
            assert record["scores"]["rerun_gap"][m]["curve"] == [0.0, None]
    assert goldfish["scores"]["box_share"]["gradcam"]["value"] is not None
    assert orange["scores"]["box_share"]["gradcam"] == {
        "value": None, "reason": "n07747607_orange.JPEG has no row in boxes.csv"}
    assert att["trust"]["standing"][0]["metric"] == "sparseness"

    study = load_study(_study_file(tmp_path, image_folder))
    assert run_stages(study, loaded={"m": tiny_loaded_model()}).computed == 0

    # an edited metric module recomputes exactly its own scores: 2 images x 2 methods x (trained, twin)
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE_DIR, copy / "xai_report", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGE_DIR", copy / "xai_report")
    edited = copy / "xai_report" / "attribution" / "metrics" / "complexity" / "sparseness.py"
    edited.write_text(edited.read_text() + "\n# edited\n")
    fingerprint.clear_caches()
    again = run_stages(load_study(_study_file(tmp_path, image_folder)), loaded={"m": tiny_loaded_model()})
    assert again.computed == 8 and first.computed > 8
    monkeypatch.setattr(fingerprint, "PACKAGE_DIR", PACKAGE_DIR)
    fingerprint.clear_caches()

    render_site(study)
    page = (study.site_path / "attribution" / "trust.md").read_text()
    assert "# Which method to trust" in page and "| Sparseness ↑ | Box share ↑ | Rerun gap ↓ |" in page
    assert "| Sparseness | 1 | 1.000 | — |" in page  # rerun_gap is 0 everywhere: its tau is undefined, never nan
    assert f"[goldfish](images/{goldfish['id']}.md#metrics)" in page
    image_page = (study.site_path / "attribution" / "images" / f"{orange['id']}.md").read_text()
    sparse = orange["scores"]["sparseness"]["gradcam"]["value"]
    assert f"| [Grad-CAM](#map-gradcam) | {sparse:.3f} | — (1) | 0.000 |" in image_page
    assert "1. n07747607\\_orange.JPEG has no row in boxes.csv" in image_page
    assert "nan" not in page.lower() and "nan" not in image_page.split("## Metrics of each map")[1].lower()


def test_a_rerun_on_another_model_explains_that_model_at_the_same_named_layer():
    """The cascading randomisation re-runs a CAM on a randomised copy: the copy's own layer is hooked, not the
    study model's (else every step would give the trained map back)."""
    import copy

    from xai_report.attribution.methods.explainer import Settings
    from xai_report.attribution.methods.registry import METHODS
    from xai_report.attribution.metrics.rerun_adapter import Rerun

    loaded = tiny_loaded_model()
    model = loaded.module
    settings = Settings(8, model.features, loaded.preprocess, torch.device("cpu"), 0)
    rerun = Rerun(METHODS["gradcam"].make(settings), loaded.preprocess, 0, home=model)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    other = copy.deepcopy(model)
    torch.manual_seed(5)
    other.features[3].reset_parameters()
    direct = METHODS["gradcam"].make(Settings(8, other.features, loaded.preprocess, torch.device("cpu"), 0))
    expected = direct.explain(other, prepared_from_tensor(x, loaded.preprocess), 1).map
    assert np.array_equal(rerun(other, x, 1), expected)
    assert not np.allclose(rerun(model, x, 1), expected)
