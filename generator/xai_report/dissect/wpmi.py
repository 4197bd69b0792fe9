"""Soft-WPMI neuron labelling, the similarity function of CLIP-Dissect.

Oikarinen & Weng, "CLIP-Dissect: Automatic Description of Neuron Representations in Deep Vision
Networks", ICLR 2023 (Sec. 3, "soft WPMI"); the defaults follow the authors' reference code
(``similarity.soft_wpmi`` in github.com/Trustworthy-ML-Lab/CLIP-dissect).

Notation used in the docstrings:

* ``P``   images x concepts: cosine similarity of each probing image's CLIP image feature to each
  concept's CLIP text feature (both L2-normalised), see :func:`clip_similarity`.
* ``A``   images x neurons: the activation of each neuron of one layer on each probing image.
* ``D_n`` the ``top_k`` images that activate neuron ``n`` most, in decreasing order, rank ``r = 0..k-1``.

Only whole layers should be passed: the ``log P(c)`` term is an average over the neurons given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

DEFAULT_WORK_BYTES = 256 * 2**20
"""Budget for the chunk temporaries of :func:`soft_wpmi` on a GPU when no chunk sizes are given."""

CPU_WORK_BYTES = 8 * 2**20
"""The same on the CPU: chunks that stay in cache run ~2x faster there than large ones (measured)."""

_WORK_COPIES = 3
"""How many chunk-sized float32 buffers exist at once: the gathered rows, the probabilities and one
temporary of the element-wise maths (most of it is done in place)."""

_IMAGE_CHUNK = 256
"""Images per step when computing the per-image softmax normaliser."""

_SORT_CHUNK = 16
"""Neurons per step when sorting activations (sorting a whole 50k x 512 layer at once took 0.2-0.3 GB)."""


def clip_similarity(image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
    """``P = norm(image_feats) @ norm(text_feats)^T``: cosine similarity, images x concepts (float32).

    Both inputs are unnormalised CLIP features (rows = items); each row is L2-normalised first, as in the
    paper (Sec. 3, step 2) and the reference ``get_similarity_from_activations``.
    """
    img = torch.nn.functional.normalize(image_feats.float(), dim=-1)
    txt = torch.nn.functional.normalize(text_feats.float(), dim=-1)
    return img @ txt.T


def rank_weights(top_k: int, n_used: int, p_start: float, p_end: float) -> torch.Tensor:
    """Weights of the ranks: ``p_r = p_start - (r / top_k) * (p_start - p_end)`` for ``r = 0..n_used-1``.

    The reference code's schedule (falls linearly from ``p_start`` towards ``p_end``; the last of ``top_k``
    ranks gets ``p_end + (p_start - p_end) / top_k``). With fewer images than ``top_k`` the schedule is cut,
    not stretched: the ``n_used`` images keep the weights they would have had among ``top_k``.
    """
    ranks = torch.arange(n_used, dtype=torch.float32)
    return p_start - ranks / top_k * (p_start - p_end)


def top_images(target_feats: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (k x neurons) of the ``k`` most-activating images of every neuron, highest first.

    A stable sort makes ties (e.g. a constant, dead neuron) resolve to the lowest image index, so the
    result does not depend on the top-k kernel or the device.
    """
    parts = []
    for n0 in range(0, target_feats.shape[1], _SORT_CHUNK):
        cols = target_feats[:, n0:n0 + _SORT_CHUNK].float()
        parts.append(torch.sort(cols, dim=0, descending=True, stable=True).indices[:k])
    return torch.cat(parts, dim=1)


def constant_neurons(target_feats: torch.Tensor) -> torch.Tensor:
    """Boolean mask (neurons,) of neurons whose activation is the same on every image (dead units).

    Soft-WPMI still gives them a label (their "top" images are just the first ones), so callers may want
    to flag or drop them.
    """
    return target_feats.amax(dim=0) == target_feats.amin(dim=0)


def peak_work_bytes(n_images_used: int, n_concepts: int, n_neurons: int, top_k: int,
                    chunk_neurons: int, chunk_concepts: int) -> int:
    """Estimate of the memory :func:`soft_wpmi` allocates besides its inputs, in bytes.

    ``4 * (3 * n_neurons * n_concepts                    # log P(c|n) and the logsumexp temporaries
           + 3 * chunk_neurons * top_k * chunk_concepts  # gathered rows, probabilities, temporary
           + 4 * min(n_images_used, 256) * n_concepts    # one step of the per-image normaliser
           + n_images_used)                              # the normalisers
       + 8 * 2 * top_k * n_neurons                       # top-image indices (int64)
       + 36 * n_images_used * min(n_neurons, 16)``       # one step of the activation sort

    with ``n_images_used = number of probing images`` as an upper bound. For 50,000 images x 20,000
    concepts x 512 neurons this gives 0.22 GiB; measured peaks above the inputs were 0.21-0.30 GiB of
    host memory on the CPU (default chunks; the allocator's fragmentation adds up to ~0.1 GiB) and
    0.20 GiB of GPU memory with ``device="cuda"`` (0.25 GiB with ``P`` itself on the GPU). The inputs
    come on top: ``P`` alone is 3.7 GiB in float32 and 1.9 GiB in float16. :func:`soft_wpmi_features`
    replaces ``P`` by the features ((images + concepts) x embed_dim floats, 0.14 GiB at d=512; measured
    GPU peak 0.35 GiB in all).
    """
    result = 3 * n_neurons * n_concepts
    chunk = _WORK_COPIES * chunk_neurons * top_k * chunk_concepts
    norm = 4 * min(n_images_used, _IMAGE_CHUNK) * n_concepts + n_images_used
    sort = 36 * n_images_used * min(n_neurons, _SORT_CHUNK)
    return 4 * (result + chunk + norm) + 8 * 2 * top_k * n_neurons + sort


def _default_chunks(n_concepts: int, n_neurons: int, top_k: int, work_bytes: int,
                    chunk_neurons: int | None, chunk_concepts: int | None) -> tuple[int, int]:
    """Chunk sizes that keep ``3 * chunk_neurons * top_k * chunk_concepts`` float32 values within budget."""
    cc = chunk_concepts or min(n_concepts, 4096)
    cn = chunk_neurons or max(1, work_bytes // (4 * _WORK_COPIES * top_k * cc))
    return max(1, min(cn, n_neurons)), max(1, min(cc, n_concepts))


class _SimilaritySource:
    """Blocks of ``P`` (rows = images, a column range of concepts), float32 on the compute device.

    Either slices of a precomputed ``P`` (which may live on the CPU, in float16), or products of
    normalised image and text features computed on demand, so that ``P`` never exists as a whole.
    """

    def __init__(self, device: torch.device, clip_feats: torch.Tensor | None = None,
                 image_feats: torch.Tensor | None = None, text_feats: torch.Tensor | None = None):
        self.device = device
        self.p = clip_feats
        if clip_feats is None:
            # Normalised once, kept on the compute device (50k x 512 floats is 0.1 GB).
            self.img = torch.nn.functional.normalize(image_feats.to(device, torch.float32), dim=-1)
            self.txt = torch.nn.functional.normalize(text_feats.to(device, torch.float32), dim=-1)

    def block(self, images: torch.Tensor, c0: int, c1: int) -> torch.Tensor:
        if self.p is not None:
            return self.p[images.to(self.p.device), c0:c1].to(self.device, torch.float32)
        return self.img[images.to(self.device)] @ self.txt[c0:c1].T


def _log_normalisers(source: _SimilaritySource, images: torch.Tensor, n_concepts: int,
                     a: float) -> torch.Tensor:
    """``Z_i = log sum_c exp(a * P[i, c])`` for the given images (float32, on the compute device).

    Computing the softmax normaliser per image, instead of the whole softmax matrix, avoids a second
    images x concepts copy of ``P`` (4 GB at 50k x 20k).
    """
    out = torch.empty(len(images), dtype=torch.float32, device=source.device)
    for s in range(0, len(images), _IMAGE_CHUNK):
        rows = source.block(images[s:s + _IMAGE_CHUNK], 0, n_concepts)
        out[s:s + _IMAGE_CHUNK] = torch.logsumexp(rows.mul_(a), dim=1)
    return out


def soft_wpmi(
    clip_feats: torch.Tensor,
    target_feats: torch.Tensor,
    top_k: int = 100,
    a: float = 10,
    lam: float = 1,
    device: str | torch.device = "cpu",
    min_prob: float = 1e-7,
    p_start: float = 0.998,
    p_end: float = 0.97,
    chunk_neurons: int | None = None,
    chunk_concepts: int | None = None,
    work_bytes: int | None = None,
) -> torch.Tensor:
    """Soft weighted pointwise mutual information between every neuron and every concept.

    Oikarinen & Weng (ICLR 2023), Sec. 3 "soft WPMI", with the reference code's defaults::

        S[i, c]        = softmax_c(a * P[i, c])              probability that image i shows concept c
        p_r            = p_start - r / top_k * (p_start - p_end)   chance that the rank-r top image
                                                                   belongs to the neuron's concept set
        log P(c | n)   = sum_{r < k} log(1 + p_r * (S[D_n[r], c] - 1) + min_prob)
        log P(c)       = logsumexp_n log P(c | n) - log(N)   (mean over the N neurons given)
        score[n, c]    = log P(c | n) - lam * log P(c)

    ``1 + p_r (S - 1) = p_r S + (1 - p_r)`` is the probability that concept ``c`` is in the neuron's
    concept set when image ``D_n[r]`` is in it with probability ``p_r``. The neuron's label is
    ``argmax_c score[n, c]`` (see :func:`label_neurons`). With ``lam = 1`` a score is at most ``log N``,
    reached when no other neuron of the layer gives the concept any weight.

    Args:
        clip_feats: ``P``, images x concepts (any float dtype, any device; float16 halves its memory).
            To avoid building ``P`` at all, use :func:`soft_wpmi_features`.
        target_feats: ``A``, images x neurons, the activations of **one whole layer**.
        top_k: images per neuron; when there are fewer images, all are used and the weight schedule is
            cut (:func:`rank_weights`).
        a: softmax sharpness over concepts.
        lam: weight of the ``log P(c)`` prior term.
        device: where the chunks are computed; the inputs may stay on the CPU.
        min_prob: added inside the log so a zero probability cannot give ``-inf``.
        chunk_neurons, chunk_concepts: chunk sizes; by default chosen from ``work_bytes``.
        work_bytes: budget for the chunk temporaries when chunk sizes are not given; default
            :data:`DEFAULT_WORK_BYTES` on a GPU, :data:`CPU_WORK_BYTES` on the CPU (see
            :func:`peak_work_bytes` for the full memory formula).

    Returns:
        float32 CPU tensor, neurons x concepts. Ties in activations (constant neurons) resolve to the lowest
        image indices, so the result is deterministic and finite.
    """
    if clip_feats.ndim != 2:
        raise ValueError(f"clip_feats must be images x concepts, got shape {tuple(clip_feats.shape)}")
    source = _SimilaritySource(torch.device(device), clip_feats=clip_feats)
    return _soft_wpmi(source, clip_feats.shape[0], clip_feats.shape[1], target_feats, top_k, a, lam,
                      min_prob, p_start, p_end, chunk_neurons, chunk_concepts, work_bytes)


def soft_wpmi_features(
    image_feats: torch.Tensor,
    text_feats: torch.Tensor,
    target_feats: torch.Tensor,
    top_k: int = 100,
    a: float = 10,
    lam: float = 1,
    device: str | torch.device = "cpu",
    min_prob: float = 1e-7,
    p_start: float = 0.998,
    p_end: float = 0.97,
    chunk_neurons: int | None = None,
    chunk_concepts: int | None = None,
    work_bytes: int | None = None,
) -> torch.Tensor:
    """:func:`soft_wpmi` with ``P = clip_similarity(image_feats, text_feats)`` computed block by block.

    Same result; ``P`` (images x concepts) is never stored, so memory is the features (images + concepts)
    x embed_dim plus :func:`peak_work_bytes`. Costs one extra matrix product per block
    (``2 * neurons * top_k * concepts * embed_dim`` flops plus the normalisers), cheap on a GPU.
    """
    if image_feats.ndim != 2 or text_feats.ndim != 2 or image_feats.shape[1] != text_feats.shape[1]:
        raise ValueError(f"image and text features must be n x d with the same d, got "
                         f"{tuple(image_feats.shape)} and {tuple(text_feats.shape)}")
    source = _SimilaritySource(torch.device(device), image_feats=image_feats, text_feats=text_feats)
    return _soft_wpmi(source, image_feats.shape[0], text_feats.shape[0], target_feats, top_k, a, lam,
                      min_prob, p_start, p_end, chunk_neurons, chunk_concepts, work_bytes)


@torch.no_grad()  # inputs may come from a graph; the in-place maths must not be recorded
def _soft_wpmi(source: _SimilaritySource, n_images: int, n_concepts: int, target_feats: torch.Tensor,
               top_k: int, a: float, lam: float, min_prob: float, p_start: float, p_end: float,
               chunk_neurons: int | None, chunk_concepts: int | None, work_bytes: int | None) -> torch.Tensor:
    """The soft-WPMI computation of :func:`soft_wpmi` over blocks of ``P`` from ``source``."""
    _check_inputs(n_images, n_concepts, target_feats, top_k)
    device = source.device
    n_neurons = target_feats.shape[1]
    k = min(top_k, n_images)
    if work_bytes is None:
        work_bytes = CPU_WORK_BYTES if device.type == "cpu" else DEFAULT_WORK_BYTES
    cn, cc = _default_chunks(n_concepts, n_neurons, k, work_bytes, chunk_neurons, chunk_concepts)

    top = top_images(target_feats, k)  # k x neurons
    used, slot = torch.unique(top, return_inverse=True)  # only these images need a normaliser
    log_z = _log_normalisers(source, used, n_concepts, a)
    weights = rank_weights(top_k, k, p_start, p_end).to(device).view(1, k, 1)
    offsets = (1 + min_prob) - weights  # 1 + p_r (S - 1) + min_prob = p_r S + offset_r

    log_p_c_given_n = torch.empty(n_neurons, n_concepts, dtype=torch.float32, device=device)
    for n0 in range(0, n_neurons, cn):
        rows = top[:, n0:n0 + cn].T.reshape(-1)  # neuron-major: (chunk * k,)
        rows_z = log_z[slot[:, n0:n0 + cn].T.reshape(-1).to(device)].view(-1, k, 1)
        for c0 in range(0, n_concepts, cc):
            p = source.block(rows, c0, c0 + cc)
            log_p_c_given_n[n0:n0 + cn, c0:c0 + cc] = _chunk_log_likelihood(
                p.view(-1, k, p.shape[-1]), rows_z, weights, offsets, a)

    # log P(c) needs every neuron's log P(c|n), so it is applied only after all chunks are done.
    log_p_c = torch.logsumexp(log_p_c_given_n, dim=0, keepdim=True) - math.log(n_neurons)
    return log_p_c_given_n.sub_(lam * log_p_c).cpu()


def _chunk_log_likelihood(p: torch.Tensor, log_z: torch.Tensor, weights: torch.Tensor,
                          offsets: torch.Tensor, a: float) -> torch.Tensor:
    """``sum_r log(p_r S + (1 + min_prob - p_r))`` for a (neurons, k, concepts) chunk of ``P``.

    ``S = exp(a P - Z)`` is the softmax over *all* concepts, using the per-image normaliser ``Z`` computed
    beforehand, so chunking over concepts does not change it. In place, to keep the chunk at ~3 buffers
    and the passes over memory few.
    """
    s = p.mul_(a).sub_(log_z).exp_()
    s.mul_(weights).add_(offsets).log_()
    return s.sum(dim=1)


def _check_inputs(n_images: int, n_concepts: int, target_feats: torch.Tensor, top_k: int) -> None:
    if target_feats.ndim != 2:
        raise ValueError(f"target_feats must be images x neurons, got shape {tuple(target_feats.shape)}")
    if n_images != target_feats.shape[0]:
        raise ValueError(f"the CLIP side has {n_images} images but target_feats has {target_feats.shape[0]}")
    if n_images == 0 or n_concepts == 0 or target_feats.shape[1] == 0:
        raise ValueError("soft_wpmi needs at least one image, one concept and one neuron")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if not bool(torch.isfinite(target_feats).all()):
        raise ValueError("target_feats contains NaN or infinite activations")


@dataclass(frozen=True)
class NeuronLabel:
    """One neuron's description: the best concept and the runners-up, with their soft-WPMI scores."""

    unit: int
    label: str
    similarity: float
    top_concepts: list[str] = field(default_factory=list)
    top_scores: list[float] = field(default_factory=list)


def label_neurons(scores: torch.Tensor, concepts: list[str], k: int = 5) -> list[NeuronLabel]:
    """Per neuron: ``label = argmax_c score[n, c]``, its score, and the ``k`` best concepts with scores.

    Equal scores rank by concept order (stable sort), so results are reproducible.
    """
    if scores.ndim != 2 or scores.shape[1] != len(concepts):
        raise ValueError(f"scores {tuple(scores.shape)} does not match {len(concepts)} concepts")
    k = max(1, min(k, len(concepts)))
    order = torch.sort(scores.float().cpu(), dim=1, descending=True, stable=True)
    top_vals = order.values[:, :k].tolist()
    top_ids = order.indices[:, :k].tolist()
    out = []
    for unit, (ids, vals) in enumerate(zip(top_ids, top_vals)):
        names = [concepts[i] for i in ids]
        out.append(NeuronLabel(unit=unit, label=names[0], similarity=vals[0], top_concepts=names, top_scores=vals))
    return out
