"""The dissection stage end to end, offline: two tiny CNNs and a tiny random CLIP on 12 probe images.

The labels of random networks mean nothing; these tests check the mechanics: caching (a second build computes
nothing, a changed image recomputes only its own), the CSVs, the results section, the strips, the pages and a
strict MkDocs build, and the one-line offline failure of the default study.
"""

import csv
import json
import shutil
import subprocess
import sys
from collections import Counter

import open_clip
import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from PIL import Image
from torch import nn

from xai_report import pipeline
from xai_report.config import load_study
from xai_report.dissect import strips as strips_module
from xai_report.dissect.stage import DissectionStage
from xai_report.models import LoadedClip, LoadedModel, Preprocess
from xai_report.paths import DATA_DIR, REPO_ROOT
from xai_report.records import DissectionSection
from xai_report.render.dissection_text import claims, headlines
from xai_report.render.site import render_site

PROBE_SOURCE = DATA_DIR / "probe" / "imagenet-samples"
CONCEPTS = ["fur", "window", "water", "grass", "sky", "tree", "road", "car", "dog", "cat", "bird", "fish", "red",
            "blue", "green", "striped", "wood", "metal", "glass", "snow", "sand", "building", "person", "face",
            "wheel", "flower", "food", "boat", "$5 <b>bold</b>", "*star* [x](y)"]
IMAGENET_CLASSES = ["tench", "goldfish", "shark", "hen", "ostrich", "crane"]
PLACES_CLASSES = ["beach", "forest", "kitchen", "street", "crane"]
LAYERS = {"layer3": 12, "layer4": 16}


class TinyResNetLike(nn.Module):
    """Named like a torchvision ResNet (``layer3``, ``layer4``, ``avgpool``, ``fc``), a few kB of weights."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.layer3 = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Conv2d(12, 16, 3, stride=2, padding=1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.avgpool(self.layer4(self.layer3(torch.relu(self.conv1(x))))).flatten(1))


def tiny_model(seed: int, classes: list[str], weights_id: str) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(module=TinyResNetLike(len(classes)).eval(),
                       preprocess=Preprocess(resize=40, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
                       class_names=list(classes), weights_id=weights_id, description="a tiny test CNN")


def tiny_clip() -> LoadedClip:
    torch.manual_seed(0)
    text_cfg = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=4, layers=2)
    vision_cfg = CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=16, image_size=32)
    model = CLIP(embed_dim=32, vision_cfg=vision_cfg, text_cfg=text_cfg).eval()
    return LoadedClip(model, open_clip.image_transform(32, is_train=False), open_clip.get_tokenizer("ViT-B-16"),
                      "test:tiny-clip:0")


def injected():
    # Weights ids start like the study's two ResNet18s so that the claims table is exercised too.
    return {"imnet": tiny_model(1, IMAGENET_CLASSES, "torchvision:resnet18:tiny-test"),
            "places": tiny_model(2, PLACES_CLASSES, "places365:resnet18:tiny-test")}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("dissect")
    probe = root / "probe"
    probe.mkdir()
    names = sorted(p.name for p in PROBE_SOURCE.iterdir())[::83][:12]
    for name in names:
        shutil.copy(PROBE_SOURCE / name, probe / name)
    shutil.copy(PROBE_SOURCE / names[0], probe / "zz_copy.jpg")  # byte-identical: skipped
    (probe / "broken.jpg").write_bytes(b"not a jpeg")  # unreadable: skipped
    (root / "concepts.txt").write_text("\n".join(CONCEPTS) + "\n", encoding="utf-8")
    study = root / "study.toml"
    study.write_text(f"""
title = "dissection test"
offline = true
device = "cpu"
output_dir = "out"
site_dir = "site_src"

[models.imnet]
source = "packaged"
label = "Tiny (ImageNet-like)"

[models.places]
source = "packaged"
label = "Tiny (Places-like)"

[attribution]
enabled = false

[dissection]
enabled = true
models = ["imnet", "places"]
layers = ["layer3", "layer4", "fc"]
probe = ["probe"]
concepts = "concepts.txt"
top_k = 5
batch_size = 8
strip_images = 3
""")
    return root, study, names


@pytest.fixture(scope="module")
def built(workspace):
    """Two builds through ``pipeline.run_stages`` with the tiny models injected, then the pages."""
    root, study_file, names = workspace
    clip, models = tiny_clip(), injected()
    stages = []

    class Injected(DissectionStage):
        """The stage as the pipeline constructs it, ``cls(study, store)``, with the tiny models injected."""

        def __init__(self, study, store):
            super().__init__(study, store, models=models, clip=clip)
            stages.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "STAGES", [Injected])
        study = load_study(study_file)
        first = pipeline.run_stages(study)
        first_results = (root / "out" / "results.json").read_bytes()
        second = pipeline.run_stages(study)
        render_site(study)
    results = json.loads((root / "out" / "results.json").read_text())
    return {"root": root, "study": study, "names": names, "first": first, "second": second, "stages": stages,
            "identical": first_results == (root / "out" / "results.json").read_bytes(),
            "section": results["dissection"], "clip": clip, "models": models}


def test_second_build_computes_nothing(built):
    assert built["first"].computed > 0
    assert built["second"].computed == 0 and built["second"].reused == built["first"].computed
    assert built["identical"]  # compute times live in timings.json, so results.json is byte-identical


def test_skips_copy_and_unreadable_with_a_reason(built):
    skipped = {s["file"]: s["reason"] for s in built["section"]["skipped"]}
    assert set(skipped) == {"probe/zz_copy.jpg", "probe/broken.jpg"}
    assert skipped["probe/zz_copy.jpg"].startswith(f"same bytes as probe/{built['names'][0]}")
    assert "not a readable image" in skipped["probe/broken.jpg"] and "\n" not in skipped["probe/broken.jpg"]
    assert built["section"]["probe"]["images"] == 12


def test_summaries_count_the_real_neurons(built):
    section = built["section"]
    for m, classes in zip(section["models"], (IMAGENET_CLASSES, PLACES_CLASSES)):
        expected = {**LAYERS, "fc": len(classes)}
        assert m["summary"]["neurons_per_layer"] == expected
        assert m["summary"]["neurons"] == sum(expected.values())
        assert [layer["neurons"] for layer in m["layers"]] == list(expected.values())
        assert 1 <= m["summary"]["distinct_concepts"] <= len(CONCEPTS)
        assert sum(c["neurons"] for c in m["summary"]["categories"]) == m["summary"]["neurons"]
        check = m["self_check"]
        assert check["neurons"] == len(classes) and 0 <= check["top1_count"] <= check["top5_count"] <= len(classes)
        for layer in m["layers"]:
            assert layer["null_threshold"] is not None
            tests = layer["quality"]["thresholds"]
            assert tests["shuffle"] == layer["null_threshold"] and tests["random"] is not None
            assert layer["threshold"] == max(tests.values())  # a label must clear both nulls
            for u in layer["units"]:
                assert u["passes"] == {t: u["similarity"] >= v for t, v in tests.items()}
                assert u["semantic"] == (u["similarity"] >= layer["threshold"] and not u["dead"])
                assert len(u["runners_up"]) == 4 and len(u["top_images"]) == 3
        assert m["layers"][1]["importance_kind"] == "classifier weight"  # layer4 feeds fc, checked numerically
        assert m["layers"][0]["importance_kind"] == "activation x score"
    comp = section["comparisons"][0]
    assert (comp["a"], comp["b"], comp["n"]) == ("imnet", "places", 50)
    assert "claims" not in section and "headlines" not in section  # sentences are made in render
    claimed = claims(DissectionSection.model_validate(section))
    assert claimed["any_claim"] and claimed["overlap"]["claimed"] == "38.0%"
    assert any("self-check" in line for line in headlines(DissectionSection.model_validate(section)))


def test_csvs_have_the_reference_columns_and_one_row_per_neuron(built):
    root, section = built["root"], built["section"]
    for m in section["models"]:
        with open(root / "out" / m["files"]["csv"], newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["layer", "unit", "description", "similarity"]
        assert len(rows) - 1 == m["summary"]["neurons"]
        assert Counter(r[0] for r in rows[1:]) == Counter(m["summary"]["neurons_per_layer"])
        assert all(r[2] in CONCEPTS for r in rows[1:])
        with open(root / "out" / m["files"]["detailed_csv"], newline="", encoding="utf-8") as fh:
            detailed = list(csv.DictReader(fh))
        assert len(detailed) == m["summary"]["neurons"]
        assert {"concept_5", "score_5", "mean_activation", "semantic", "category", "importance"} <= set(detailed[0])
        assert m["files"]["csv"] in section["assets"]


def test_one_strip_per_neuron(built):
    root, section = built["root"], built["section"]
    strips = [a for a in section["assets"] if a.endswith(".jpg")]
    assert len(strips) == sum(m["summary"]["neurons"] for m in section["models"])
    assert "dissection/strips/imnet/layer3_0.jpg" in strips
    with Image.open(root / "out" / "dissection" / "strips" / "imnet" / "layer3_0.jpg") as im:
        assert im.size == (3 * strips_module.THUMB + 2 * strips_module.GAP, strips_module.THUMB)
    assert (root / "site_src" / "assets" / "dissection" / "strips" / "places" / "fc_4.jpg").is_file()


def test_changed_image_recomputes_only_its_own(built, tmp_path):
    root, names = built["root"], built["names"]
    study = load_study(root / "study.toml")
    study.output_dir = str(tmp_path / "out")
    shutil.copytree(root / "out" / "store", tmp_path / "out" / "store")
    target = root / "probe" / names[3]
    original = target.read_bytes()
    try:
        with Image.open(target) as im:
            im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(target, quality=90)
        store = pipeline.ArtifactStore(study.output_path / "store")
        kinds = Counter()
        put = store.put
        store.put = lambda key, meta, files=None: (kinds.update([meta["kind"]]), put(key, meta, files))[1]
        DissectionStage(study, store, models=built["models"], clip=built["clip"]).run()
    finally:
        target.write_bytes(original)
    assert kinds["clip_image"] == 1 and kinds["dissect_activations"] == 2 * 2  # each model and its randomised twin
    assert kinds["clip_text"] == 0  # the concept and class-name features are reused
    # The probe set changed: every layer of every model and twin, and their self-checks; their split halves.
    assert kinds["dissect_labels"] == 2 * 2 * (3 + 1) and kinds["dissect_split_half"] == 2 * 2 * 3
    assert kinds["dissect_strip"] < sum(m["summary"]["neurons"] for m in built["section"]["models"])


def _rebuilt_kinds(built, tmp_path) -> Counter:
    """Run the stage on a copy of the built store; the kinds of the artifacts it computes."""
    study = load_study(built["root"] / "study.toml")
    study.output_dir = str(tmp_path / "out")
    shutil.copytree(built["root"] / "out" / "store", tmp_path / "out" / "store")
    store = pipeline.ArtifactStore(study.output_path / "store")
    kinds = Counter()
    put = store.put
    store.put = lambda key, meta, files=None: (kinds.update([meta["kind"]]), put(key, meta, files))[1]
    DissectionStage(study, store, models=built["models"], clip=built["clip"]).run()
    return kinds


LABELS = {"dissect_labels": 2 * 2 * (3 + 1), "dissect_split_half": 2 * 2 * 3}
"""Labels of 2 models and their 2 randomised twins: 3 layers and a self-check each; split halves of each layer."""


@pytest.mark.parametrize("changed, recomputed", [
    ("xai_report.dissect.labelling", LABELS),
    ("xai_report.dissect.strips", {"dissect_strip": 2 * (12 + 16) + 6 + 5}),
    # dissect/features.py computes CLIP features and activations and imports clip_text: both are re-keyed
    ("xai_report.dissect.clip_text", {"clip_image": 12, "clip_text": 4, "dissect_activations": 48, **LABELS}),
    # every image is read with Pillow (data.py), so its upgrade reaches every artifact made from probe images
    ("pillow", {"clip_image": 12, "clip_text": 4, "dissect_activations": 48, **LABELS, "dissect_strip": 2 * (12 + 16) + 6 + 5}),
    # open_clip is imported by the modules that compute activations and strips too (features.py, models/clip.py)
    ("open-clip-torch", {"clip_image": 12, "clip_text": 4, "dissect_activations": 48, **LABELS,
                         "dissect_strip": 2 * (12 + 16) + 6 + 5}),
])
def test_a_code_or_library_change_recomputes_what_depends_on_it(built, tmp_path, monkeypatch, changed, recomputed):
    """An edited module (its fingerprint) or an upgraded library (its version) gives new keys to the artifacts
    made with it, and to the labels computed from them; everything else is reused."""
    from xai_report import fingerprint

    if changed.startswith("xai_report."):
        real = fingerprint.module_fingerprint
        monkeypatch.setattr(fingerprint, "module_fingerprint",
                            lambda m: "edited" if (m if isinstance(m, str) else m.__name__) == changed else real(m))
    else:
        real_version = fingerprint.library_version
        monkeypatch.setattr(fingerprint, "library_version", lambda d: "99.0" if d == changed else real_version(d))
    fingerprint.clear_caches()
    assert dict(_rebuilt_kinds(built, tmp_path)) == recomputed


def test_pages_render_escaped_and_mkdocs_strict_passes(built):
    root = built["root"]
    site = root / "site_src"
    for page in ("dissection/index.md", "dissection/imnet/index.md", "dissection/imnet/layer3.md",
                 "dissection/places/fc.md", "dissection/compare.md"):
        assert (site / page).is_file(), page
    overview = (site / "dissection" / "index.md").read_text()
    assert "study's claim" in overview and "896" in overview and "fc self-check" in overview
    pages = "".join(p.read_text() for p in (site / "dissection").rglob("*.md"))
    assert "<b>bold</b>" not in pages and "*star* [x](y)" not in pages
    assert "assets/dissection/strips/imnet/layer4_0.jpg" in (site / "dissection" / "imnet" / "layer4.md").read_text()
    home = (site / "index.md").read_text()
    assert "self-check" in home
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "site" / "dissection" / "imnet" / "layer3" / "index.html").is_file()


def test_default_study_fails_offline_in_one_line():
    """No CLIP (or ResNet18) weights can be had offline: one ``error:`` line, exit code 2, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "xai_report.cli", "dissect", "--study", "studies/default.toml",
                           "--offline"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "missing" in lines[0] and "Traceback" not in proc.stderr


def test_render_makes_the_sentences_from_the_numbers(built):
    """Claims and headlines come from render; a model the study did not dissect gets "not claimed"."""
    section = built["section"]
    assert claims(None) is None and headlines(None) == []
    other = {**section, "models": [{**m, "weights_id": "test:other"} for m in section["models"]]}
    table = claims(DissectionSection.model_validate(other))
    assert not table["any_claim"] and table["overlap"] is None
    assert {cell["claimed"] for row in table["rows"] for cell in row["models"].values()} == {"not claimed"}
    total = sum(m["summary"]["neurons"] for m in section["models"])
    assert headlines(DissectionSection.model_validate(section))[0].startswith(f"Dissection: {total} neurons of 2 model(s)")
