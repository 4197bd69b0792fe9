"""The ``labels`` concept source (ImageNet classes + WordNet ancestors, no CLIP) on planted data.

A fake model sees solid-colour images whose colour encodes their class (each image of a class a little darker
than the one before): unit k of its classifier fires on the images of class k, so soft-WPMI with the labels
source must name unit k after class k; a unit of another layer fires equally on the images of two dog breeds
(its top images hold both) and must be named after their nearest shared ancestor kept in the vocabulary,
``dog`` (the probe also holds a wolf, a cat and a hog, which share the higher ancestors).
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from xai_report import pipeline
from xai_report.config import load_study
from xai_report.dissect import setup as dissect_setup
from xai_report.dissect.label_concepts import label_probabilities, read_vocabulary
from xai_report.dissect.stage import DissectionStage
from xai_report.models import LoadedModel, Preprocess
from xai_report.errors import ConfigError
from xai_report.paths import DATA_DIR, STUDIES_DIR
from xai_report.render.site import render_site

CLASSES_CSV = DATA_DIR / "concepts" / "imagenet_wordnet.csv"
ANCESTORS_CSV = DATA_DIR / "concepts" / "wordnet_ancestors.csv"
# class index, wnid, solid colour, and the fc weight that makes that unit fire on that colour (inputs in [-1, 1])
PLANTED = {
    151: ("n02085620", (255, 0, 0), (1.0, -1.0, -1.0)),  # Chihuahua: red
    207: ("n02099601", (0, 255, 0), (-1.0, 1.0, -1.0)),  # golden retriever: green
    269: ("n02114367", (0, 0, 255), (-1.0, -1.0, 1.0)),  # timber wolf: blue
    281: ("n02123045", (40, 40, 40), (-1.0, -1.0, -1.0)),  # tabby: dark grey
    341: ("n02395406", (255, 255, 255), (1.0, 1.0, 1.0)),  # hog: white (labelled by labels.csv)
}
PER_CLASS = 3


class Planted(nn.Module):
    """Channel means -> ``mid`` (unit 0 fires on red and green: the two dogs; units 1-3 on the cat, the wolf and
    the hog, so that soft-WPMI's prior, a mean over the layer's units, gives their shared ancestors weight that
    ``dog`` does not get) and ``fc`` (1000 classes)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 3, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.mid = nn.Linear(3, 4)
        self.fc = nn.Linear(3, 1000)
        with torch.no_grad():
            self.features.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.features.bias.zero_()
            self.mid.weight.copy_(torch.tensor([[1.0, 1.0, -2.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, 1.0],
                                                 [1.0, 1.0, 1.0]]))
            self.mid.bias.zero_()
            # The other classes get random weights: dead units would all share the first images as their top
            # ones and lift those images' concepts in soft-WPMI's prior log P(c) (a mean over the layer's units).
            self.fc.weight.copy_(0.1 * torch.randn(1000, 3, generator=torch.Generator().manual_seed(0)))
            self.fc.bias.zero_()
            for index, (_, _, w) in PLANTED.items():
                self.fc.weight[index] = torch.tensor(w)

    def forward(self, x):
        f = self.pool(self.features(x)).flatten(1)
        self.mid(f)
        return self.fc(f)


def planted_model() -> LoadedModel:
    names = [row["lemmas"].split(";")[0] for row in csv.DictReader(CLASSES_CSV.open())]
    return LoadedModel(module=Planted().eval(),
                       preprocess=Preprocess(resize=40, crop=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
                       class_names=names, weights_id="test:planted:0", description="a planted test model")


def test_vocabulary_names_are_unique_and_p_rows_sum_to_one():
    vocab, _ = read_vocabulary(CLASSES_CSV, ANCESTORS_CSV, 3, 300)
    assert len(set(vocab.names)) == len(vocab.names)
    assert "crane (class 134)" in vocab.names and "crane (class 517)" in vocab.names
    assert vocab.n_classes == 1000 and len(vocab.names) > 1000
    p = label_probabilities(vocab, ["n02085620", "n02395406"])
    assert torch.allclose(p.sum(dim=1), torch.ones(2))
    assert p[0, vocab.index()["n02084071"]] > 0  # Chihuahua's row carries "dog"
    classes_only, _ = read_vocabulary(CLASSES_CSV, ANCESTORS_CSV, 1001, 1001)
    assert len(classes_only.names) == 1000


def planted_probe_study(root: Path) -> Path:
    """Solid-colour probe photos of the planted classes (WordNet ids in the names, or a labels.csv) and a
    labels-source study that dissects the planted model's ``mid`` and ``fc``; returns the study file."""
    named, val = root / "named", root / "val"
    named.mkdir()
    val.mkdir()
    rows = ["file,synset,class_index,class_name"]
    for index, (wnid, colour, _) in PLANTED.items():
        for i in range(PER_CLASS):
            colour = tuple(int(c * (1 - 0.15 * i)) for c in colour)  # darker and darker: no ties within a class
            if index == 341:  # no WordNet id in the name: the class comes from labels.csv
                Image.new("RGB", (48, 48), colour).save(val / f"img_{i}.jpg", quality=95)
                rows.append(f"img_{i}.jpg,{wnid},{index},hog")
            else:
                Image.new("RGB", (48, 48), colour).save(named / f"{wnid}_{i}.jpg", quality=95)
    (val / "labels.csv").write_text("\n".join(rows) + "\n")
    Image.new("RGB", (48, 48), (128, 128, 128)).save(val / "unlabelled.jpg")
    study = root / "study.toml"
    study.write_text(f"""
title = "labels test"
offline = true
device = "cpu"
output_dir = "out"
site_dir = "site_src"

[models.planted]
source = "packaged"

[attribution]
enabled = false

[dissection]
enabled = true
concepts_source = "labels"
wordnet_classes = "{CLASSES_CSV.as_posix()}"
wordnet_ancestors = "{ANCESTORS_CSV.as_posix()}"
models = ["planted"]
layers = ["mid", "fc"]
probe = ["named", "val"]
top_k = {PER_CLASS}
batch_size = 8
strip_images = 3
""")
    return study


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    study = planted_probe_study(root)
    model = planted_model()

    class Injected(DissectionStage):
        def __init__(self, study, store):
            super().__init__(study, store, models={"planted": model})

    def no_clip(*args, **kwargs):
        raise AssertionError("the labels source must not load CLIP")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "STAGES", [Injected])
        mp.setattr(dissect_setup, "load_clip", no_clip)
        study = load_study(study)
        pipeline.run_stages(study)
        render_site(study)
    return root, json.loads((root / "out" / "results.json").read_text())["dissection"]


def _units(section: dict, layer: str) -> list[dict]:
    return next(layer_ for layer_ in section["models"][0]["layers"] if layer_["name"] == layer)["units"]


def test_planted_class_units_get_their_class(built):
    _, section = built
    fc = _units(section, "fc")
    expected = {151: "Chihuahua", 207: "golden retriever", 269: "timber wolf", 281: "tabby", 341: "hog"}
    assert {k: fc[k]["label"] for k in expected} == expected
    check = section["models"][0]["self_check"]
    assert check["layer"] == "fc" and check["neurons"] == 1000
    assert check["top1_count"] >= len(expected) and check["class_or_ancestor_count"] >= check["top1_count"]


def test_planted_ancestor_unit_gets_the_ancestor(built):
    _, section = built
    assert _units(section, "mid")[0]["label"] == "dog"


def test_source_recorded_unlabelled_skipped_and_pages_say_it(built):
    root, section = built
    assert section["concepts"]["source"] == "labels" and section["clip"] is None
    assert section["probe"]["images"] == len(PLANTED) * PER_CLASS
    assert any(s["file"].endswith("unlabelled.jpg") and "no ImageNet class" in s["reason"] for s in section["skipped"])
    with (root / "out" / "dissection" / "planted.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["layer", "unit", "description", "similarity"]
    assert next(r for r in rows if r["layer"] == "fc" and r["unit"] == "151")["description"] == "Chihuahua"
    pages = list(Path(root / "site_src" / "dissection").rglob("*.md"))
    assert pages and all("Concept source: labels" in p.read_text() for p in pages)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("extra, message", [
    ('concepts_source = "words"', "dissection.concepts_source: 'words'; allowed: clip, labels"),
    ('concepts_source = "labels"\nwordnet_classes = "nope.csv"', "dissection.wordnet_classes: file .*nope.csv does not exist"),
    ('concepts_source = "labels"\nmin_classes = 10\nmax_classes = 5', "need 1 <= min_classes <= max_classes, got 10 and 5"),
])
def test_labels_source_config_mistakes_are_one_line(tmp_path, extra, message):
    (tmp_path / "probe").mkdir()
    files = "" if "wordnet_classes" in extra else f'wordnet_classes = "{CLASSES_CSV.as_posix()}"'
    study = tmp_path / "study.toml"
    study.write_text(f"""
[models.m]
source = "packaged"

[attribution]
enabled = false

[dissection]
enabled = true
models = ["m"]
probe = ["probe"]
wordnet_ancestors = "{ANCESTORS_CSV.as_posix()}"
{files}
{extra}
""")
    with pytest.raises(ConfigError, match=message) as err:
        load_study(study)
    assert "\n" not in str(err.value)


def test_offline_study_dissects_with_labels():
    offline = load_study(STUDIES_DIR / "offline.toml")
    dis = offline.dissection
    assert dis.enabled and dis.concepts_source == "labels" and dis.layers[-1] == "classifier"
    assert Path(dis.wordnet_classes).is_file() and all(Path(p).is_dir() for p in dis.probe)
