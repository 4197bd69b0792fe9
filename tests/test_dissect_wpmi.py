"""Soft-WPMI (CLIP-Dissect, Oikarinen & Weng, ICLR 2023) against a plain reimplementation and planted data."""

import math

import pytest
import torch

from xai_report.dissect.wpmi import (
    clip_similarity,
    constant_neurons,
    label_neurons,
    peak_work_bytes,
    rank_weights,
    soft_wpmi,
    soft_wpmi_features,
)


def reference_soft_wpmi(P, A, top_k=100, a=10.0, lam=1.0, min_prob=1e-7, p_start=0.998, p_end=0.97):
    """The reference formula written out plainly: whole softmax, one neuron at a time, float64."""
    P, A = P.double(), A.double()
    S = torch.softmax(a * P, dim=1)
    k = min(top_k, P.shape[0])
    n_neurons = A.shape[1]
    rows = []
    for n in range(n_neurons):
        top = torch.sort(A[:, n], descending=True, stable=True).indices[:k]
        total = torch.zeros(P.shape[1], dtype=torch.float64)
        for r, i in enumerate(top.tolist()):
            p_r = p_start - r / top_k * (p_start - p_end)
            total += torch.log(1 + p_r * (S[i] - 1) + min_prob)
        rows.append(total)
    log_p_c_given_n = torch.stack(rows)
    log_p_c = torch.logsumexp(log_p_c_given_n, dim=0) - math.log(n_neurons)
    return (log_p_c_given_n - lam * log_p_c).float()


def random_inputs(n_images=300, n_concepts=40, n_neurons=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    P = 0.2 + 0.05 * torch.randn(n_images, n_concepts, generator=g)
    A = torch.randn(n_images, n_neurons, generator=g)
    return P, A


def planted(n_images=3000, n_concepts=200, n_neurons=60, seed=1, noise=0.5):
    """Images show each concept with probability 0.05; CLIP similarity is higher where a concept is shown;
    neuron n fires (plus noise) on images showing its planted concept ``n % 50``."""
    g = torch.Generator().manual_seed(seed)
    present = (torch.rand(n_images, n_concepts, generator=g) < 0.05).float()
    P = 0.18 + 0.06 * present + 0.01 * torch.randn(n_images, n_concepts, generator=g)
    truth = torch.arange(n_neurons) % 50  # concepts 0..9 are planted in two neurons each
    A = present[:, truth] + noise * torch.randn(n_images, n_neurons, generator=g)
    return P, A, truth


def test_matches_plain_reference_formula():
    P, A = random_inputs()
    got = soft_wpmi(P, A, top_k=50)
    want = reference_soft_wpmi(P, A, top_k=50)
    assert got.shape == (12, 40)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)


def test_non_default_parameters_match_reference():
    P, A = random_inputs(seed=3)
    kw = dict(top_k=20, a=4.0, lam=0.5, p_start=0.9, p_end=0.6)
    torch.testing.assert_close(soft_wpmi(P, A, **kw), reference_soft_wpmi(P, A, **kw), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("cn,cc", [(1, 1), (5, 7), (12, 40), (100, 3)])
def test_chunked_equals_unchunked(cn, cc):
    P, A = random_inputs(seed=2)
    whole = soft_wpmi(P, A, top_k=30, chunk_neurons=12, chunk_concepts=40)
    torch.testing.assert_close(soft_wpmi(P, A, top_k=30, chunk_neurons=cn, chunk_concepts=cc), whole,
                               rtol=1e-5, atol=1e-4)


def test_budget_chooses_small_chunks_with_same_result():
    P, A = random_inputs(seed=4)
    tiny_budget = soft_wpmi(P, A, top_k=30, work_bytes=1)  # forces 1 neuron per chunk
    torch.testing.assert_close(tiny_budget, soft_wpmi(P, A, top_k=30), rtol=1e-5, atol=1e-4)


def test_half_precision_similarity_is_accepted():
    P, A = random_inputs(seed=5)
    torch.testing.assert_close(soft_wpmi(P.half(), A, top_k=30), soft_wpmi(P.half().float(), A, top_k=30))


def test_from_features_equals_from_similarity_matrix():
    g = torch.Generator().manual_seed(9)
    img, txt = torch.randn(200, 16, generator=g), torch.randn(35, 16, generator=g)
    A = torch.randn(200, 10, generator=g)
    want = reference_soft_wpmi(clip_similarity(img, txt), A, top_k=40)
    got = soft_wpmi_features(img, txt, A, top_k=40, chunk_neurons=3, chunk_concepts=8)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError):
        soft_wpmi_features(img, txt[:, :8], A)


def test_planted_concepts_are_recovered():
    P, A, truth = planted()
    labels = soft_wpmi(P, A).argmax(dim=1)
    accuracy = (labels == truth).float().mean().item()
    assert accuracy >= 0.95
    # The same data with activations unrelated to the images must not be labelled correctly.
    shuffled = A[torch.randperm(A.shape[0], generator=torch.Generator().manual_seed(0))]
    assert (soft_wpmi(P, shuffled).argmax(dim=1) == truth).float().mean().item() < 0.2


def test_fewer_images_than_top_k_uses_all_with_cut_weights():
    P, A = random_inputs(n_images=30, seed=6)
    got = soft_wpmi(P, A, top_k=100)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, reference_soft_wpmi(P, A, top_k=100), rtol=1e-4, atol=1e-3)
    # Cut, not stretched: weights are those of the first 30 of 100 ranks, so they differ from top_k=30.
    assert not torch.allclose(got, soft_wpmi(P, A, top_k=30))


def test_rank_weights_schedule():
    w = rank_weights(100, 100, 0.998, 0.97)
    assert w[0].item() == pytest.approx(0.998)
    assert w[-1].item() == pytest.approx(0.97 + 0.028 / 100)
    assert torch.all(w[1:] < w[:-1])
    torch.testing.assert_close(rank_weights(100, 30, 0.998, 0.97), w[:30])


def test_constant_neurons_are_finite_and_deterministic():
    P, A = random_inputs(seed=7)
    A[:, 3] = 0.0  # dead ReLU unit
    A[:, 5] = 2.5
    first = soft_wpmi(P, A, top_k=20)
    assert torch.isfinite(first).all()
    torch.testing.assert_close(first, soft_wpmi(P, A, top_k=20, chunk_neurons=1, chunk_concepts=3),
                               rtol=1e-5, atol=1e-4)
    assert torch.equal(first, soft_wpmi(P, A, top_k=20))
    # Ties resolve to the lowest image indices, as the stable-sort reference does.
    torch.testing.assert_close(first, reference_soft_wpmi(P, A, top_k=20), rtol=1e-4, atol=1e-3)
    assert constant_neurons(A).tolist() == [i in (3, 5) for i in range(12)]


def test_all_neurons_constant_still_finite():
    P, _ = random_inputs(seed=8)
    A = torch.ones(P.shape[0], 4)
    scores = soft_wpmi(P, A, top_k=10)
    assert torch.isfinite(scores).all()
    # Identical neurons: log P(c|n) = log P(c), so with lam=1 every score is log(N) - log(N) = 0.
    torch.testing.assert_close(scores, torch.zeros_like(scores), atol=1e-4, rtol=0)


def test_bad_inputs_are_refused():
    P, A = random_inputs()
    with pytest.raises(ValueError, match="images"):
        soft_wpmi(P[:10], A)
    with pytest.raises(ValueError, match="top_k"):
        soft_wpmi(P, A, top_k=0)
    A[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        soft_wpmi(P, A)


def test_clip_similarity_is_cosine():
    img = torch.tensor([[3.0, 4.0], [0.0, -2.0]])
    txt = torch.tensor([[1.0, 0.0], [0.0, 5.0], [1.0, 1.0]])
    want = torch.tensor([[0.6, 0.8, 0.7 * math.sqrt(2)], [0.0, -1.0, -1 / math.sqrt(2)]])
    torch.testing.assert_close(clip_similarity(img, txt), want)


def test_label_neurons_top_k_and_ties():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.9], [2.0, -1.0, 0.0, 1.0]])
    labels = label_neurons(scores, ["a", "b", "c", "d"], k=3)
    assert [n.unit for n in labels] == [0, 1]
    assert labels[0].label == "b"  # tie with "d": the earlier concept wins
    assert labels[0].top_concepts == ["b", "d", "c"]
    assert labels[0].top_scores == pytest.approx([0.9, 0.9, 0.5])
    assert labels[1].label == "a" and labels[1].similarity == pytest.approx(2.0)
    assert labels[1].top_concepts == ["a", "d", "c"]
    assert len(label_neurons(scores, ["a", "b", "c", "d"], k=10)[0].top_concepts) == 4
    with pytest.raises(ValueError):
        label_neurons(scores, ["a", "b"])


def test_peak_memory_formula_for_the_large_case():
    # Defaults for 50k images x 20k concepts x 512 neurons keep the working memory well under 4 GB.
    from xai_report.dissect.wpmi import DEFAULT_WORK_BYTES, _default_chunks

    cn, cc = _default_chunks(20_000, 512, 100, DEFAULT_WORK_BYTES, None, None)
    assert 3 * 4 * cn * 100 * cc <= DEFAULT_WORK_BYTES
    assert peak_work_bytes(50_000, 20_000, 512, 100, cn, cc) < 1e9
