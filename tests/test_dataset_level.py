"""Dataset-level findings on a hand-made set of records: bootstrap intervals and the per-class table."""

import numpy as np
import pytest

from xai_report.attribution import dataset_level as dl
from xai_report.attribution.dataset_level import ImageScores

METHODS = ["gradcam", "ablationcam"]


def _rows(n: int, seed: int = 1) -> list[ImageScores]:
    """``n`` images of three classes; Grad-CAM's deletion AUCs are drawn around 0.2, Ablation-CAM's around 0.3."""
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "eel"]
    rows = []
    for i in range(n):
        d = {"gradcam": float(rng.normal(0.2, 0.05)), "ablationcam": float(rng.normal(0.3, 0.05))}
        ins = {"gradcam": float(rng.normal(0.6, 0.05)), "ablationcam": float(rng.normal(0.5, 0.05))}
        rows.append(ImageScores(
            id=f"img{i:03d}", title=f"Image {i}", true_class=classes[i % 3], predicted=classes[(i // 3) % 3],
            probability=0.5 + i / (4 * n), correct=(i % 3) == (i // 3) % 3, deletion=d, insertion=ins,
            beats_random_deletion={"gradcam": i % 4 != 0, "ablationcam": i % 2 == 0},
            beats_random_insertion={"gradcam": True, "ablationcam": i % 5 == 0},
            spearman={("gradcam", "ablationcam"): float(rng.uniform(-0.2, 0.9))}))
    return rows


def test_interval_contains_the_mean_and_matches_numpy():
    values = [float(v) for v in np.random.default_rng(3).exponential(1.0, 40)]
    found = dl.bootstrap_mean(values, samples=500, seed=7)
    assert found["n"] == 40 and found["mean"] == pytest.approx(np.mean(values), abs=1e-6)
    assert found["low"] < found["mean"] < found["high"]
    # The same computation written directly: 500 resamples of 40 indices (drawn in blocks of 256, which is the
    # same stream as one draw per block), the mean of each, the 2.5th and 97.5th percentiles.
    rng, vals = np.random.default_rng(7), np.array(values)
    means = np.concatenate([vals[rng.integers(0, 40, size=(k, 40))].mean(axis=1) for k in (256, 244)])
    low, high = np.percentile(means, [2.5, 97.5])
    assert (found["low"], found["high"]) == (round(float(low), 6), round(float(high), 6))


def test_interval_is_reproducible_with_the_seed_and_moves_with_another():
    values = [float(v) for v in np.random.default_rng(4).normal(size=30)]
    a, b, c = (dl.bootstrap_mean(values, 1000, s) for s in (0, 0, 1))
    assert a == b and (a["low"], a["high"]) != (c["low"], c["high"])


def test_interval_shrinks_with_more_images():
    rng = np.random.default_rng(5)
    widths = []
    for n in (20, 80, 320):
        found = dl.bootstrap_mean([float(v) for v in rng.normal(size=n)], 1000, 0)
        widths.append(found["high"] - found["low"])
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(4.0, rel=0.35)  # width ~ 1 / sqrt(n)


def test_one_value_has_no_interval_and_none_has_no_mean():
    assert dl.bootstrap_mean([0.4], 100, 0) == {"mean": 0.4, "low": None, "high": None, "n": 1}
    assert dl.bootstrap_mean([float("nan"), None], 100, 0)["mean"] is None


def test_summary_means_shares_and_accuracy():
    rows = _rows(60)
    found = dl.summary(rows, METHODS, samples=400, seed=0)
    grad = found["methods"][0]
    assert grad["method"] == "gradcam"
    assert grad["deletion_auc"]["mean"] == pytest.approx(np.mean([r.deletion["gradcam"] for r in rows]), abs=1e-6)
    assert grad["beats_random_deletion"]["mean"] == pytest.approx(45 / 60, abs=1e-6)  # i % 4 != 0
    assert grad["beats_random_insertion"] == {"mean": 1.0, "low": 1.0, "high": 1.0, "n": 60}
    correct = sum(r.correct for r in rows)
    assert found["accuracy"]["correct"] == correct and found["accuracy"]["mean"] == pytest.approx(correct / 60, abs=1e-6)
    pair = found["agreement"][0]
    assert (pair["a"], pair["b"]) == ("gradcam", "ablationcam") and pair["spearman"]["n"] == 60
    assert found["wrong_total"] == 60 - correct and found["bootstrap"]["samples"] == 400


def test_per_class_table_groups_by_true_class():
    rows = _rows(30)
    table = dl.per_class(rows, METHODS, samples=200, seed=0)
    assert [t["class"] for t in table] == ["cat", "dog", "eel"]
    for t in table:
        members = [r for r in rows if r.true_class == t["class"]]
        assert t["images"] == 10 and t["ids"] == [r.id for r in members]
        assert t["accuracy"]["correct"] == sum(r.correct for r in members)
        expect = np.mean([r.insertion["ablationcam"] for r in members])
        assert t["methods"]["ablationcam"]["insertion_auc"]["mean"] == pytest.approx(expect, abs=1e-6)
    unlabelled = ImageScores(id="x", title="X", true_class=None, predicted="cat", probability=0.9, correct=None)
    assert [t["class"] for t in dl.per_class(rows + [unlabelled], METHODS, 50, 0)] == ["cat", "dog", "eel"]


def test_short_lists_pick_the_right_images():
    rows = _rows(40)
    found = dl.summary(rows, METHODS, samples=100, seed=0)
    rho = sorted((r.spearman[("gradcam", "ablationcam")], r.id) for r in rows)
    assert [d["id"] for d in found["disagree_most"]] == [i for _, i in rho[:10]]
    gaps = sorted((round(r.insertion[m] - r.deletion[m], 6), r.id, m) for r in rows for m in METHODS)
    assert [(f["id"], f["method"]) for f in found["least_faithful"]] == [(i, m) for _, i, m in gaps[:10]]
    wrong = sorted(((-r.probability, r.id) for r in rows if r.correct is False))
    assert [w["id"] for w in found["wrong"]] == [i for _, i in wrong[:10]]
    assert all(w["true_class"] != w["predicted"] for w in found["wrong"])


def test_scores_from_a_results_record():
    record = {"id": "a", "title": "A", "true_class": {"index": 1, "name": "goldfish", "wnid": "n01443537"},
              "predictions": [{"index": 2, "name": "shark", "probability": 0.7}], "correct": False,
              "metrics": {"faithfulness": {"methods": {"gradcam": {
                  "deletion_auc": 0.1, "insertion_auc": 0.8, "beats_random_deletion": True, "beats_random_insertion": False}}},
                  "agreement": {"pairs": [{"a": "gradcam", "b": "lime", "spearman": 0.25}]}}}
    s = dl.scores_from_record(record)
    assert (s.true_class, s.predicted, s.correct, s.deletion, s.beats_random_insertion) == (
        "goldfish", "shark", False, {"gradcam": 0.1}, {"gradcam": False})
    assert s.spearman == {("gradcam", "lime"): 0.25}
