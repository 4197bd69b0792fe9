"""The explained logit, decomposed over the units of the pooled layer: exact sums, and honest refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_report.attribution import contributions
from xai_report.data import list_images, load_rgb, prepare
from xai_report.records import Neurons

from conftest import STUDY_IMAGES, TinyNet
from records_fill import filled


def test_tiny_model_head_is_found_and_the_parts_add_up_to_the_logit():
    torch.manual_seed(0)
    model = TinyNet().eval()
    x = torch.rand(1, 3, 32, 32)
    head = contributions.find_pooled_head(model, "features", x)
    assert head is model.fc
    logits, features = contributions.forward_with_features(model, head, x)
    for c in range(4):
        parts = contributions.decompose(features, model.fc.weight[c].detach().numpy(), float(model.fc.bias[c].detach()))
        assert parts["logit"] == pytest.approx(float(logits[0, c]), abs=1e-5)
        assert parts["units_total"] == 16 and len(parts["units"]) == 10
        contribs = [u["contribution"] for u in parts["units"]]
        assert contribs == sorted(contribs, reverse=True)


def test_decompose_shares_and_coverage_on_known_numbers():
    parts = contributions.decompose(np.array([1.0, 2.0, 3.0, 0.5]), np.array([1.0, -1.0, 2.0, 2.0]), 0.25, shown=2)
    # contributions 1, -2, 6, 1: positive total 8; the two largest are units 2 (6) and 0 (1, before unit 3 by index)
    assert parts["logit"] == pytest.approx(6.25) and parts["positive_total"] == 8 and parts["negative_total"] == -2
    assert [u["unit"] for u in parts["units"]] == [2, 0]
    assert parts["units"][0]["share"] == pytest.approx(0.75) and parts["shown_share"] == pytest.approx(7 / 8)


class TwoLayerHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 8, 3)
        self.hidden = nn.Linear(8, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.hidden(self.features(x).mean(dim=(2, 3)))))


class MaxPoolHead(TwoLayerHead):
    def forward(self, x):
        return self.fc(self.features(x).amax(dim=(2, 3)))


@pytest.mark.parametrize("model, why", [(TwoLayerHead(), "not the global average"),
                                        (MaxPoolHead(), "not the global average")])
def test_other_heads_get_a_reason(model, why):
    reason = contributions.find_pooled_head(model.eval(), "features", torch.rand(1, 3, 16, 16))
    assert isinstance(reason, str) and why in reason


@pytest.mark.real_model
def test_decomposition_sums_to_the_logit_on_every_study_image(effnet):
    model = effnet.module.eval()
    images = list_images(STUDY_IMAGES)
    assert len(images) == 10
    head = None
    for path in images:
        x = prepare(load_rgb(path), effnet.preprocess).tensor
        head = head or contributions.find_pooled_head(model, "bn2", x)
        assert isinstance(head, nn.Linear), head
        logits, features = contributions.forward_with_features(model, head, x)
        c = int(logits.argmax())
        parts = contributions.decompose(features, head.weight[c].detach().numpy(), float(head.bias[c].detach()))
        assert abs(parts["logit"] - float(logits[0, c])) <= 1e-4, path.name
        assert 0 < parts["shown_share"] < 1  # ten units never carry all the positive evidence


def test_page_labels_come_from_the_same_model_and_layer_of_the_dissection():
    from xai_report.render import neurons

    results = filled({"dissection": {"models": [
        {"key": "other", "layers": [{"name": "bn2", "units": [{"unit": 0, "label": "wrong", "semantic": True}]}]},
        {"key": "m", "layers": [{"name": "blocks.5", "units": [{"unit": 0, "label": "wrong", "semantic": True}]},
                                {"name": "bn2", "threshold": 1.5,
                                 "units": [{"unit": 0, "label": "fish", "semantic": True, "similarity": 2.0},
                                           {"unit": 1, "label": "water", "semantic": False, "similarity": 1.0}]}]}]}})
    assert neurons.unit_labels(results, "m", "bn2") == {
        0: neurons.UnitLabel("fish", True, 2.0, 1.5), 1: neurons.UnitLabel("water", False, 1.0, 1.5)}
    assert neurons.unit_labels(results, "m", "fc") == {} and neurons.unit_labels(filled({}), "m", "bn2") == {}
    spread = {"layer": "bn2", "units": [{"contribution": 2.0}, {"contribution": 1.0}], "shown_share": 0.15,
              "units_positive": 40}
    assert "only 15%" in neurons.coverage(filled(spread, Neurons)) and "38 positive units" in neurons.coverage(filled(spread, Neurons))
    assert "60%" in neurons.coverage(filled({**spread, "shown_share": 0.6}, Neurons))


def test_evidence_is_summed_per_concept_and_per_wordnet_ancestor():
    """Positive contributions add up per label and, with the labels source's hierarchy, per ancestor."""
    from xai_report.render import neurons

    labels = {0: neurons.UnitLabel("flamingo", True, 1.0, 0.5), 1: neurons.UnitLabel("bird", False, 0.1, 0.5),
              2: neurons.UnitLabel("water", True, 1.0, 0.5), 3: neurons.UnitLabel("flamingo", False, 0.1, 0.5)}
    found = filled({"layer": "bn2", "contributions": [3.0, 1.0, -2.0, 4.0, 2.0], "positive_total": 10.0}, Neurons)
    groups = {g.concept: g for g in neurons.concept_evidence(found, labels, {"flamingo": ["bird"]})}
    assert groups["flamingo"].units == 2 and groups["flamingo"].trusted == 1
    assert abs(groups["flamingo"].share - 0.7) < 1e-9  # units 0 and 3: 3 + 4 of 10
    assert groups["bird"].units == 3 and abs(groups["bird"].share - 0.8) < 1e-9  # flamingo units are below bird
    assert groups["bird"].below == 2 and groups["water"].share == 0.0  # negative evidence is not positive
    ranked = neurons.concept_evidence(found, labels, {"flamingo": ["bird"]})
    assert [g.concept for g in ranked] == ["bird", "flamingo", "water"]
    sentence = neurons.evidence_sentence(ranked, "flamingo")
    assert "3 units labelled bird or a concept below it give 80%" in sentence
    assert neurons.concept_evidence(found.model_copy(update={"positive_total": 0.0}), labels, {}) == []
