"""Summaries, categories, importance and the null threshold on hand-built per-neuron tables, with the expected
numbers worked out by hand."""

import math

import pytest
import torch

from xai_report.dissect.categories import DEFAULT_CATEGORIES, categorise, category_counts
from xai_report.dissect.importance import activation_importance, fc_importance
from xai_report.dissect.null import null_threshold
from xai_report.dissect.summaries import (
    concept_counts,
    concept_overlap,
    count_histogram,
    diversity,
    neuron_counts,
    redundancy,
    summarise,
)
from xai_report.dissect.wpmi import soft_wpmi


def table(layer_labels, sims=None):
    rows = []
    for layer, labels in layer_labels.items():
        for unit, label in enumerate(labels):
            sim = sims[layer][unit] if sims else 1.0
            rows.append({"layer": layer, "unit": unit, "label": label, "similarity": sim, "top_concepts": [label]})
    return rows


# Model A: layer1 = dog dog cat sky dog cat, layer2 = sky tree tree car
# counts: dog 3, cat 2, sky 2, tree 2, car 1 (10 neurons, 5 labels)
A = table(
    {"layer1": ["dog", "dog", "cat", "sky", "dog", "cat"], "layer2": ["sky", "tree", "tree", "car"]},
    {"layer1": [0.9, 0.2, 0.5, 0.4, 0.6, 0.1], "layer2": [3.0, 1.0, 2.5, 0.0]},
)
# Model B: tree 3, dog 2, bird 2, car 1
B = table({"layer4": ["tree", "dog", "bird", "tree", "bird", "dog", "tree", "car"]})


def test_counts():
    assert neuron_counts(A) == {"layer1": 6, "layer2": 4}
    assert concept_counts(A) == [("dog", 3), ("cat", 2), ("sky", 2), ("tree", 2), ("car", 1)]
    assert concept_counts([]) == []
    assert count_histogram(concept_counts(A)) == {1: 1, 2: 3, 3: 1}
    assert count_histogram(concept_counts(B)) == {1: 1, 2: 2, 3: 1}


def test_redundancy_within_layer_and_across_model():
    red = redundancy(A)
    # layer1: dog {0,1,4}, cat {2,5}; layer2: tree {1,2} -> 3 groups, 7 neurons, largest dog (3)
    assert (red.n_groups, red.n_neurons, red.largest_label, red.largest_size) == (3, 7, "dog", 3)
    assert red.groups[("layer1", "dog")] == [("layer1", 0), ("layer1", 1), ("layer1", 4)]
    whole = redundancy(A, within_layer=False)
    # across layers sky also forms a group (layer1 unit 3, layer2 unit 0): 4 groups, 9 neurons
    assert (whole.n_groups, whole.n_neurons, whole.largest_label, whole.largest_size) == (4, 9, "dog", 3)
    none = redundancy(table({"l": ["a", "b", "c"]}))
    assert (none.n_groups, none.n_neurons, none.largest_label, none.largest_size) == (0, 0, None, 0)


def test_diversity_entropy():
    d = diversity(concept_counts(A))
    # p = 0.3, 0.2, 0.2, 0.2, 0.1
    h = 0.3 * math.log2(1 / 0.3) + 3 * 0.2 * math.log2(5) + 0.1 * math.log2(10)
    assert d.entropy_bits == pytest.approx(h)
    assert h == pytest.approx(2.2464393, abs=1e-6)
    assert d.normalised == pytest.approx(h / math.log2(10))
    assert d.evenness == pytest.approx(h / math.log2(5))
    all_distinct = diversity(concept_counts(table({"l": ["a", "b", "c", "d"]})))
    assert (all_distinct.entropy_bits, all_distinct.normalised, all_distinct.evenness) == pytest.approx((2, 1, 1))
    same = diversity(concept_counts(table({"l": ["a", "a", "a"]})))
    assert (same.entropy_bits, same.normalised, same.evenness) == (0.0, 0.0, 0.0)


def test_cross_model_overlap():
    # top-3 of A: dog(3), then cat/sky/tree tie at 2 -> by name cat, sky; top-3 of B: tree(3), bird, dog (2 each)
    a, b = concept_counts(A), concept_counts(B)
    ov = concept_overlap(a, b, n=3)
    assert ov.top_a == ["dog", "cat", "sky"]
    assert ov.top_b == ["tree", "bird", "dog"]
    assert ov.shared == ["dog"]
    assert ov.overlap == pytest.approx(1 / 3)
    assert ov.jaccard == pytest.approx(1 / 5)  # union: dog cat sky tree bird
    assert ov.only_a == ["cat", "sky"]  # all labels of A missing from B
    assert ov.only_b == ["bird"]
    ov50 = concept_overlap(a, b)  # fewer than 50 labels: all of them, still divided by 50
    assert ov50.shared == ["car", "dog", "tree"]
    assert ov50.overlap == pytest.approx(3 / 50)
    assert ov50.jaccard == pytest.approx(3 / 6)
    assert concept_overlap(a, a).jaccard == 1.0


def test_importance_definitions():
    acts = torch.tensor([[1.0, -2.0, 0.0], [3.0, 0.0, 0.0]])  # mean |a| = 2, 1, 0
    w = torch.tensor([[3.0, 0.0, 1.0], [4.0, 1.0, 1.0]])  # column norms 5, 1, sqrt 2
    torch.testing.assert_close(fc_importance(acts, w), torch.tensor([10.0, 1.0, 0.0]))
    sims = torch.tensor([0.4, -1.0, 2.0])
    torch.testing.assert_close(activation_importance(acts, sims), torch.tensor([0.4, 0.0, 0.0]))
    with pytest.raises(ValueError):
        fc_importance(acts, w[:, :2])


def test_categorise_and_category_counts():
    concept_feats = torch.tensor([[2.0, 0.1, 0.0], [0.0, 3.0, 0.0], [0.1, 0.0, -1.0], [0.0, 0.0, 0.0]])
    category_feats = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -5.0]])
    names, sim = categorise(concept_feats, category_feats, ["animal", "colour", "texture"])
    assert names == ["animal", "colour", "texture", "animal"]  # all-zero feature: ties -> first category
    assert sim.shape == (4, 3)
    assert sim[1, 1].item() == pytest.approx(1.0)
    assert sim[2, 2].item() == pytest.approx(1 / math.sqrt(1.01))
    with pytest.raises(ValueError):
        categorise(concept_feats, category_feats, ["animal"])
    cats = {"dog": "animal", "cat": "animal", "sky": "scene", "tree": "plant"}
    assert category_counts(A, cats) == [("animal", 5), ("plant", 2), ("scene", 2), ("other", 1)]
    assert "animal" in DEFAULT_CATEGORIES and len(set(DEFAULT_CATEGORIES.values())) == len(DEFAULT_CATEGORIES)


def test_summarise_bundles_the_numbers():
    s = summarise(A, top_n=2)
    assert s["neurons"] == 10 and s["neurons_per_layer"] == {"layer1": 6, "layer2": 4}
    assert s["distinct_concepts"] == 5
    assert s["top_concept"] == {"label": "dog", "neurons": 3}
    assert s["top_concepts"] == [{"label": "dog", "neurons": 3}, {"label": "cat", "neurons": 2}]
    assert s["count_histogram"] == {1: 1, 2: 3, 3: 1}
    assert s["redundancy"] == {"groups": 3, "neurons": 7, "largest_label": "dog", "largest_size": 3}
    assert s["diversity"]["entropy_bits"] == pytest.approx(2.2464393, abs=1e-6)
    assert summarise(A, top_n=2, counts=concept_counts(A)) == s
    empty = summarise([])
    assert empty["neurons"] == 0 and empty["top_concept"] is None and empty["distinct_concepts"] == 0


def synthetic_layer(seed, n_images=1500, n_concepts=120, n_neurons=40, planted=True):
    g = torch.Generator().manual_seed(seed)
    present = (torch.rand(n_images, n_concepts, generator=g) < 0.05).float()
    P = 0.18 + 0.06 * present + 0.01 * torch.randn(n_images, n_concepts, generator=g)
    noise = torch.randn(n_images, n_neurons, generator=g)
    A = present[:, :n_neurons] + 0.5 * noise if planted else noise
    return P, A


def test_null_threshold_separates_planted_from_chance():
    P, A = synthetic_layer(0)
    kw = dict(top_k=50)
    threshold = null_threshold(P, A, quantile=0.95, seed=1, **kw)
    real = soft_wpmi(P, A, **kw).max(dim=1).values
    assert (real >= threshold).float().mean().item() >= 0.9

    # Neurons unrelated to the images should rarely pass (about 5% by construction).
    P0, A0 = synthetic_layer(2, planted=False)
    t0 = null_threshold(P0, A0, quantile=0.95, n_shuffles=2, seed=3, **kw)
    chance = soft_wpmi(P0, A0, **kw).max(dim=1).values
    assert (chance >= t0).float().mean().item() <= 0.2
    # The same seed gives the same threshold; the quantile must be a probability.
    assert null_threshold(P, A, seed=1, **kw) == threshold
    with pytest.raises(ValueError):
        null_threshold(P, A, quantile=95)
