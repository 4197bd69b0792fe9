"""The rule engine: verdicts computed from a hand-made results.json, the claims file's checks, the shipped
claims file, and the Claims page with the home page's count."""

from pathlib import Path

import pytest

from xai_report.config import load_study
from xai_report.config.claims import TEST_KINDS, load_claims
from xai_report.errors import ConfigError
from xai_report.paths import STUDIES_DIR, TEMPLATES_DIR
from xai_report.records import Results
from xai_report.render.claims import RULES, claim_verdicts, claims_pages
from xai_report.render.claims.engine import CONTRADICTED, SUPPORTED, UNTESTABLE, judge_all
from xai_report.render.markdown import Safe, environment

from records_fill import filled

from conftest import write_study

CAMS = ["gradcam", "ablationcam", "scorecam"]
HEADER = """
[models.explained]
label = "ResNet50"
weights = "torchvision:resnet50:IMAGENET1K_V2"
attribution = true
[models.imagenet]
label = "ResNet18 (ImageNet)"
weights = "torchvision:resnet18:"
[models.places365]
label = "ResNet18 (Places365)"
weights = "places365:resnet18:"
[[notes]]
image = "kite"
text = "No kite in this photo."
"""


def measures(energy, spread, gini):
    return {m: {"energy_in_boxes": e, "spread_half_max": s, "gini": g}
            for m, e, s, g in zip(CAMS + ["lime"], energy, spread, gini)}


def record(image_id, boxes, per_method, region, stability):
    pairs = [{"a": a, "b": b, "spearman": 0.8 if "scorecam" not in (a, b) else 0.3} for a, b in
             [("gradcam", "ablationcam"), ("gradcam", "scorecam"), ("ablationcam", "scorecam")]]
    return {"id": image_id, "title": image_id.title(), "predictions": [{"index": 1, "name": "hip", "probability": 0.48}],
            "map_measures": {"boxes": boxes, "methods": per_method},
            "metrics": {"agreement": {"pairs": pairs, "lime": {m: {"superpixel_spearman": region} for m in CAMS}}},
            "seed_stability": {"lime": {"seeds": [0, 1, 2], "mean_spearman": stability}}}


def results(with_dissection=True) -> Results:
    boxed = {"count": 1, "objects": ["fish"], "area_share": 0.4}
    images = [
        # Grad-CAM broadest everywhere; Score-CAM highest energy on 2 of 2 boxed images
        record("goldfish", boxed, measures([0.6, 0.7, 0.9, 0.5], [0.5, 0.3, 0.2, 0.1], [0.3, 0.5, 0.6, 0.8]), 0.7, 0.6),
        record("flamingo", boxed, measures([0.5, 0.6, 0.8, 0.2], [0.6, 0.2, 0.3, 0.1], [0.2, 0.5, 0.5, 0.9]), 0.6, 0.7),
        record("kite", {"count": 0, "absent": "boxes.csv marks no object in kite.jpg (its row has no box)"},
               measures([None] * 4, [0.7, 0.2, 0.2, 0.1], [0.1, 0.4, 0.4, 0.9]), 0.1, 0.5),
    ]
    found = {"attribution": {"model": {"weights_id": "packaged:efficientnet_lite0:1", "description": "EffNet",
                                       "layer": "bn2", "key": "m"},
                             "methods": [{"name": m, "title": m.upper()} for m in CAMS + ["lime"]],
                             "images": images}}
    if with_dissection:
        summary = {"neurons": 896, "distinct_concepts": 150, "top_concept": {"label": "fur", "neurons": 30},
                   "semantic": {"share": 0.9}, "redundancy": {"largest_size": 5},
                   "categories": [{"category": "animal", "neurons": 400}, {"category": "plant", "neurons": 10}]}
        layer4 = {"name": "layer4", "units": [{"unit": 0, "label": "scales"}, {"unit": 1, "label": "fur"}]}
        found["dissection"] = {"models": [{"key": "r18", "slug": "r18", "label": "R18", "weights_id": "torchvision:resnet18:IMAGENET1K_V1",
                                           "summary": summary, "layers": [layer4]}], "comparisons": []}
    return filled(found)


def claims_file(tmp_path, body: str) -> Path:
    path = tmp_path / "claims.toml"
    path.write_text(HEADER + body)
    return path


CLAIMS = """
[[claims]]
id = "gradcam-broad"
topic = "CAMs"
quote = "Grad-CAM is broader"
models = ["explained"]
layer = "layer4[-1]"
methods = ["gradcam"]
test = { kind = "method_order", measure = "spread_half_max", than = ["ablationcam", "scorecam"], direction = "higher", at_least = 0.7 }

[[claims]]
id = "lime-sharper-than-cams"
topic = "CAMs"
quote = "LIME is more diffuse than Score-CAM"
models = ["explained"]
methods = ["lime"]
test = { kind = "method_order", measure = "spread_half_max", than = ["scorecam"], direction = "higher", at_least = 0.5 }

[[claims]]
id = "scorecam-energy"
topic = "CAMs"
quote = "Score-CAM is object-centric"
models = ["explained"]
methods = ["scorecam"]
test = { kind = "method_order", measure = "energy_in_boxes", than = ["gradcam", "ablationcam"], direction = "higher", at_least = 0.7 }

[[claims]]
id = "lime-above-chance"
topic = "LIME"
quote = "LIME outlines the object"
models = ["explained"]
methods = ["lime"]
images = ["goldfish", "flamingo"]
test = { kind = "above_chance", at_least = 1.0 }

[[claims]]
id = "similar"
topic = "CAMs"
quote = "similar regions"
models = ["explained"]
methods = ["gradcam", "ablationcam", "scorecam"]
test = { kind = "pairwise_agreement", minimum = 0.5 }

[[claims]]
id = "kite-bird"
topic = "LIME"
quote = "LIME highlights the small bird"
models = ["explained"]
methods = ["lime"]
images = ["kite"]
test = { kind = "no_object", verdict = "contradicted" }

[[claims]]
id = "kite-branches"
topic = "CAMs"
quote = "maps on branches"
models = ["explained"]
images = ["kite"]
test = { kind = "no_object", verdict = "supported" }

[[claims]]
id = "agree-clear"
topic = "LIME vs CAMs"
quote = "agree on clear images"
models = ["explained"]
methods = ["gradcam", "ablationcam", "scorecam"]
images = ["goldfish", "flamingo"]
test = { kind = "region_agreement", region = "lime", minimum = 0.5, at_least = 0.75 }

[[claims]]
id = "diverge-kite"
topic = "LIME vs CAMs"
quote = "diverge on the kite"
models = ["explained"]
methods = ["gradcam", "ablationcam", "scorecam"]
images = ["kite"]
test = { kind = "agreement_contrast", region = "lime", others = ["goldfish", "flamingo"] }

[[claims]]
id = "lime-sensitive"
topic = "LIME"
quote = "LIME is sensitive"
models = ["explained"]
methods = ["lime"]
test = { kind = "seed_stability", below = 0.8 }

[[claims]]
id = "missing-image"
topic = "CAMs"
quote = "the vulture"
models = ["explained"]
methods = ["gradcam"]
images = ["vulture"]
test = { kind = "above_chance", at_least = 1.0 }

[[claims]]
id = "neurons"
topic = "Dissection"
quote = "896 neurons"
models = ["imagenet"]
test = { kind = "model_number", field = "neurons", expected = [896] }

[[claims]]
id = "distinct"
topic = "Dissection"
quote = "173 distinct"
models = ["imagenet"]
test = { kind = "model_number", field = "distinct_concepts", expected = [173], tolerance = 0.1, relative = true }

[[claims]]
id = "top"
topic = "Dissection"
quote = "fur"
models = ["imagenet"]
test = { kind = "top_concept", labels = ["Fur"], counts = [36] }

[[claims]]
id = "category"
topic = "Dissection"
quote = "animals"
models = ["imagenet"]
test = { kind = "top_category", categories = [["animal", "texture or pattern"]] }

[[claims]]
id = "textures"
topic = "Dissection"
quote = "scales, feathers, whiskers"
models = ["imagenet"]
layer = "layer4"
test = { kind = "layer_labels", concepts = ["scales", "feathers", "whiskers"], min_present = 2 }

[[claims]]
id = "places-diversity"
topic = "Dissection"
quote = "Places365 more diverse"
models = ["places365", "imagenet"]
test = { kind = "model_compare", field = "diversity.entropy_bits" }
"""

EXPECTED = {
    "gradcam-broad": SUPPORTED, "lime-sharper-than-cams": CONTRADICTED, "scorecam-energy": SUPPORTED,
    "lime-above-chance": CONTRADICTED, "similar": CONTRADICTED, "kite-bird": CONTRADICTED,
    "kite-branches": SUPPORTED, "agree-clear": SUPPORTED, "diverge-kite": SUPPORTED, "lime-sensitive": SUPPORTED,
    "missing-image": UNTESTABLE, "neurons": SUPPORTED, "distinct": CONTRADICTED, "top": SUPPORTED,
    "category": SUPPORTED, "textures": CONTRADICTED, "places-diversity": UNTESTABLE,
}


def test_every_test_kind_has_a_rule():
    assert set(RULES) == set(TEST_KINDS)


def test_verdicts_from_a_hand_made_results_json(tmp_path):
    judged = {j.claim.id: j for j in judge_all(load_claims(claims_file(tmp_path, CLAIMS)), results())}
    assert {k: j.verdict for k, j in judged.items()} == EXPECTED
    assert "image vulture is not among" in judged["missing-image"].reason
    assert "does not dissect the write-up's ResNet18 (Places365)" in judged["places-diversity"].reason
    # localisation skips the kite and says why; LIME's energy is below chance on the flamingo (0.2 vs 0.4)
    assert any("Kite skipped: boxes.csv marks no object" in n for n in judged["scorecam-energy"].numbers)
    assert "Flamingo 0.200 vs 0.400" in " ".join(judged["lime-above-chance"].numbers)
    assert judged["scorecam-energy"].tested_on.startswith("The attribution claims are about the write-up's ResNet50")
    assert judged["gradcam-broad"].notes == ["Layer bn2 here; the write-up used layer4[-1]."]
    for j in judged.values():  # every rule is worded from its parameters, numbers or no numbers
        assert j.rule.startswith(("supported", "contradicted")), (j.claim.id, j.rule)
        assert bool(j.numbers) == (j.verdict != UNTESTABLE) and bool(j.reason) == (j.verdict == UNTESTABLE)


def test_without_a_dissection_its_claims_are_not_testable(tmp_path):
    judged = {j.claim.id: j for j in judge_all(load_claims(claims_file(tmp_path, CLAIMS)), results(False))}
    assert judged["neurons"].verdict == UNTESTABLE and judged["neurons"].reason == "this study runs no dissection"
    assert judged["gradcam-broad"].verdict == SUPPORTED


@pytest.mark.parametrize("body, message", [
    ('[[claims]]\nid = "a"\ntopic = "t"\nquote = "q"\nmodels = ["nobody"]\ntest = { kind = "seed_stability", below = 0.5 }\n',
     "names model 'nobody'"),
    ('[[claims]]\nid = "a"\ntopic = "t"\nquote = "q"\nmodels = ["imagenet"]\ntest = { kind = "guess" }\n',
     "claims\\[0\\].test.kind: unknown 'guess'; allowed: 'model_number'"),
    ('[[claims]]\nid = "a"\ntopic = "t"\nquote = "q"\nmodels = ["imagenet"]\ntest = { kind = "overlap", expected = 0.4 }\n',
     "claims\\[0\\].test.tolerance: required"),
])
def test_a_bad_claims_file_is_one_line(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        load_claims(claims_file(tmp_path, body))


def test_the_shipped_claims_file_holds_every_claim_of_the_issue():
    default, offline = load_study(STUDIES_DIR / "default.toml"), load_study(STUDIES_DIR / "offline.toml")
    assert default.claims and default.claims == offline.claims
    claims = load_claims(Path(default.claims))
    ids = {c.id for c in claims.claims}
    assert {"dissect-neurons", "dissect-distinct", "dissect-top-concept", "dissect-categories", "dissect-semantic",
            "dissect-redundancy", "dissect-overlap", "dissect-only-places", "dissect-diversity",
            "dissect-layer4-textures", "cams-similar-regions", "cams-gradcam-diffuse", "cams-ablation-score-sharper",
            "cams-scorecam-goldfish", "cams-ablationcam-shark", "cams-scorecam-object-centric",
            "cams-cover-clear-objects", "cams-kite-branches", "lime-flamingos", "lime-coot", "lime-kite-bird",
            "lime-cams-agree-clear", "lime-cams-diverge-kite"} <= ids
    assert [n.image for n in claims.notes] == ["n01608432_kite"] and "no visible kite" in claims.notes[0].text


def test_claims_page_and_home_count(tmp_path, image_folder):
    study_file = write_study(tmp_path, image_folder)
    text = study_file.read_text()
    study_file.write_text(f'claims = "{claims_file(tmp_path, CLAIMS).as_posix()}"\n' + text)
    tested = claim_verdicts(load_study(study_file), results())
    assert tested.counts == {"total": 17, SUPPORTED: 9, CONTRADICTED: 6, UNTESTABLE: 2}
    assert [t.name for t in tested.topics] == ["CAMs", "LIME", "LIME vs CAMs", "Dissection"]
    assert [r.number for t in tested.topics for r in t.rows] == list(range(1, 18))
    env = environment(TEMPLATES_DIR)
    (page,) = claims_pages(tested)(results(), {})
    text = env.get_template(page.template).render(**page.context, tested_claims=tested, root=Safe("../"))
    assert "Of 17 claims, **9 supported**, **6 contradicted**,\n**2 not testable here**" in text
    assert "No kite in this photo." in text and '!!! failure "Contradicted"' in text
    assert "(../attribution/images/kite.md)" in text  # the note links the image page, from claims/
    assert "**Evidence**" not in text  # no claim names an evidence page: no link
    study = {"title": "t", "description": "", "xai_report_version": "0", "study_file": "s.toml", "seed": 0}
    home = env.get_template("home.md.j2").render(study=study, attribution=None, dissection_headlines=[], raw=False,
                                                 attribution_headlines=[], tested_claims=tested)
    assert "of 17 claims, 9 supported, 6 contradicted, 2 not testable here" in home
    assert claims_pages(None)(results(), {}) is not None and not list(claims_pages(None)(results(), {}))
