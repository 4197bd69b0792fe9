"""Label quality (dissect/quality.py): split-half stability, held-out precision and the randomised-model null,
on planted data where the right answers are known, and the re-initialised twin (models/randomise.py)."""

from __future__ import annotations

import torch
from torch import nn

from xai_report.dissect.quality import (held_out_false_positives, random_threshold, related, split_half,
                                        split_halves, summarise)
from xai_report.dissect.wpmi import constant_neurons
from xai_report.models.randomise import randomised_module

N_CONCEPTS = 20
IMAGES_PER_CONCEPT = 30


def planted(seed: int = 0, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """600 images of 20 concepts (one each, one-hot ``P`` in the labels source's log form) and 40 neurons: neuron
    n fires on concept n % 20 (plus noise). Returns ``P``, activations and the membership matrix."""
    gen = torch.Generator().manual_seed(seed)
    concept = torch.arange(N_CONCEPTS).repeat_interleave(IMAGES_PER_CONCEPT)
    member = nn.functional.one_hot(concept, N_CONCEPTS).bool()
    p = torch.log(member.float().clamp(min=1e-7)) / 10.0
    acts = torch.randn(len(concept), 2 * N_CONCEPTS, generator=gen) * noise
    for n in range(2 * N_CONCEPTS):
        acts[:, n] += (concept == n % N_CONCEPTS).float()
    return p, acts, member


def test_halves_are_disjoint_cover_everything_and_follow_the_seed():
    a, b = split_halves(101, seed=3)
    assert len(a) == 50 and len(b) == 51
    assert set(a.tolist()).isdisjoint(b.tolist()) and set(a.tolist()) | set(b.tolist()) == set(range(101))
    assert torch.equal(split_halves(101, seed=3)[0], a) and not torch.equal(split_halves(101, seed=4)[0], a)


def test_planted_concepts_are_stable_and_precise_shuffled_ones_are_at_chance():
    p, acts, member = planted()
    halves = split_halves(p.shape[0], seed=0)
    found = split_half(p, acts, halves, top_k=5, device=torch.device("cpu"), seed=0, member=member)
    expected = torch.arange(2 * N_CONCEPTS) % N_CONCEPTS
    assert torch.equal(found.labels_a, expected) and torch.equal(found.labels_b, expected)
    alive = torch.ones(2 * N_CONCEPTS, dtype=torch.bool)
    numbers = summarise(found, alive, alive, None, (len(halves[0]), len(halves[1])))
    assert numbers["stability"] == 1.0
    assert numbers["stability_chance"] <= 0.2  # 1 in 20 expected when nothing links a neuron to a concept
    assert numbers["precision"] >= 0.95  # noise may put one other image among a top 5
    assert abs(numbers["precision_chance"] - 1 / N_CONCEPTS) < 0.02  # each concept is 1/20 of half B


def test_shuffled_activations_give_chance_stability():
    p, acts, member = planted()
    gen = torch.Generator().manual_seed(1)
    shuffled = acts[torch.randperm(acts.shape[0], generator=gen)]  # images no longer match their concepts
    halves = split_halves(p.shape[0], seed=0)
    found = split_half(p, shuffled, halves, top_k=5, device=torch.device("cpu"), seed=0, member=member)
    alive = torch.ones(2 * N_CONCEPTS, dtype=torch.bool)
    numbers = summarise(found, alive, alive, None, (300, 300))
    assert numbers["stability"] <= 0.25
    assert abs(numbers["precision"] - numbers["precision_chance"]) < 0.15


def test_related_counts_an_ancestor_as_agreement():
    ancestors = [[2], [2], []]  # concepts 0 and 1 are below concept 2
    agree = related(torch.tensor([0, 0, 2, 1]), torch.tensor([0, 2, 0, 0]), ancestors)
    assert agree.tolist() == [True, True, True, False]
    assert related(torch.tensor([0, 0]), torch.tensor([0, 2]), None).tolist() == [True, False]


def test_random_threshold_is_set_on_even_units_and_tested_on_odd_ones():
    scores = torch.arange(20, dtype=torch.float64)  # even units 0, 2, ..., 18; odd 1, ..., 19
    alive = torch.ones(20, dtype=torch.bool)
    t = random_threshold(scores, alive)
    assert 16.0 < t <= 18.0  # the 95th percentile of 0, 2, ..., 18
    hits, held = held_out_false_positives(scores, alive, t)
    assert held == 10 and hits == 1  # only unit 19 clears it
    alive[0::2] = False
    assert random_threshold(scores, alive) is None


def test_randomised_twin_redraws_every_weight_and_is_seeded():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(1, 3, 8, 8))
    model[1].running_mean.fill_(5.0)
    model.scale = nn.Parameter(torch.full((3,), 2.0) + torch.arange(3.0))  # owned by no resettable module
    state = torch.get_rng_state()
    twin = randomised_module(model, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        if name != "1.weight" and name != "1.bias":  # BN's default init is the constant 1 / 0
            assert not torch.equal(p, q), name
    assert torch.equal(twin[1].running_mean, torch.zeros(4))
    again = randomised_module(model, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(twin.parameters(), again.parameters()))
    assert not twin.training


def test_dead_neurons_are_not_counted():
    p, acts, member = planted()
    acts[:, 0] = 1.0  # a constant, dead unit
    halves = split_halves(p.shape[0], seed=0)
    found = split_half(p, acts, halves, top_k=5, device=torch.device("cpu"), seed=0, member=member)
    alive = ~constant_neurons(acts)
    numbers = summarise(found, alive, alive, None, (300, 300))
    assert numbers["neurons"] == 2 * N_CONCEPTS - 1 and numbers["stability"] == 1.0
