"""How good is a layer's labelling? Split-half stability, held-out precision and the randomised-model null.

Three measures of this project's, each read against chance:

* **Split-half stability**: the probe images are split at random (seeded) into two disjoint halves and the layer is
  labelled on each with the same soft-WPMI (Oikarinen & Weng, ICLR 2023); a neuron is *stable* when its two labels
  agree: are equal, or, for the labels concept source, one is a WordNet ancestor of the other. Chance is the same
  share after each half's activations are shuffled across its images (:func:`.null.shuffle_images`).
* **Held-out precision** (labels source only, where each image's concepts are known): with the label found on half
  A, the share of the neuron's top-k images *of half B* that carry the label (are of its class or below it), against
  the share of all half-B images that carry it (what k images drawn at random would give).
* **The randomised-model null** (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018, applied to labels):
  the same architecture with re-initialised weights (:mod:`xai_report.models.randomise`) is labelled over the same
  probe and concepts. A label counts only when its score beats the 95th percentile of the randomised layer's top-1
  scores. The percentile is taken on the randomised layer's even-numbered units and the share of its odd-numbered
  units that clear the final threshold is reported: held out, so it is an honest false-positive rate, not one that
  is 5% by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..numbers import rounded as _r
from .null import shuffle_images
from .wpmi import soft_wpmi, top_images

RANDOM_QUANTILE = 0.95
"""The share of the randomised layer's (calibration) labels a trained label must beat."""


def half_sizes(n_images: int) -> tuple[int, int]:
    """The sizes of :func:`split_halves`' two halves (the second takes the odd image when ``n_images`` is odd)."""
    return n_images // 2, n_images - n_images // 2


def split_halves(n_images: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint halves of ``range(n_images)`` drawn with ``seed``, of :func:`half_sizes` (sorted indices)."""
    perm = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))
    half = half_sizes(n_images)[0]
    return perm[:half].sort().values, perm[half:].sort().values


def top1(p: torch.Tensor, acts: torch.Tensor, top_k: int, device: torch.device, **wpmi) -> torch.Tensor:
    """Each neuron's best concept (index) by soft-WPMI; the first of equal scores wins."""
    return soft_wpmi(p, acts, top_k=top_k, device=device, **wpmi).argmax(dim=1)


def related(labels_a: torch.Tensor, labels_b: torch.Tensor, ancestors: Sequence[Sequence[int]] | None) -> torch.Tensor:
    """Per neuron: the two labels are equal or (with ``ancestors``, concept index -> its ancestors' indices) one is
    an ancestor of the other."""
    same = labels_a == labels_b
    if ancestors is None:
        return same
    above = [set(a) for a in ancestors]
    return torch.tensor([bool(s) or a in above[b] or b in above[a]
                         for s, a, b in zip(same.tolist(), labels_a.tolist(), labels_b.tolist())], dtype=torch.bool)


@dataclass
class SplitHalf:
    """Per-neuron results of the split-half labelling of one layer (all tensors have one entry per neuron)."""

    labels_a: torch.Tensor
    labels_b: torch.Tensor
    shuffled_a: torch.Tensor
    shuffled_b: torch.Tensor
    precision: torch.Tensor | None = None
    """Held-out precision of ``labels_a`` on half B (labels source only)."""
    chance: torch.Tensor | None = None
    """The share of half-B images carrying ``labels_a``: the precision of k random images."""


def split_half(p: torch.Tensor, acts: torch.Tensor, halves: tuple[torch.Tensor, torch.Tensor], top_k: int,
               device: torch.device, seed: int, member: torch.Tensor | None = None, **wpmi) -> SplitHalf:
    """Label ``acts`` (images x neurons, one whole layer) on each half of ``p``'s images, and on each half with its
    activations shuffled; with ``member`` (images x concepts, bool: the image carries the concept), the held-out
    precision of half A's labels among each neuron's top-``top_k`` images of half B."""
    a, b = halves
    gen = torch.Generator().manual_seed(seed)
    found = SplitHalf(
        labels_a=top1(p[a], acts[a], top_k, device, **wpmi),
        labels_b=top1(p[b], acts[b], top_k, device, **wpmi),
        shuffled_a=top1(p[a], shuffle_images(acts[a], gen), top_k, device, **wpmi),
        shuffled_b=top1(p[b], shuffle_images(acts[b], gen), top_k, device, **wpmi),
    )
    if member is not None:
        carried = member[b]  # half-B images x concepts
        tops = top_images(acts[b], min(top_k, len(b)))  # k x neurons, indices into half B
        found.precision = carried[tops, found.labels_a.unsqueeze(0)].float().mean(dim=0)
        found.chance = carried[:, found.labels_a].float().mean(dim=0)
    return found


def _share(mask: torch.Tensor, among: torch.Tensor) -> float | None:
    n = int(among.sum())
    return _r(int((mask & among).sum()) / n) if n else None


def _mean(values: torch.Tensor | None, among: torch.Tensor) -> float | None:
    if values is None or not bool(among.any()):
        return None
    return _r(float(values[among].mean()))


def summarise(found: SplitHalf, alive: torch.Tensor, labelled: torch.Tensor,
              ancestors: Sequence[Sequence[int]] | None, halves: tuple[int, int]) -> dict:
    """A layer's stability and held-out precision (numbers for ``results.json``): over its live neurons and over
    those whose label passed the layer's tests (``labelled``), each beside its chance level."""
    stable = related(found.labels_a, found.labels_b, ancestors)
    chance = related(found.shuffled_a, found.shuffled_b, ancestors)
    out = {
        "halves": list(halves),
        "neurons": int(alive.sum()), "labelled": int((alive & labelled).sum()),
        "stability": _share(stable, alive), "stability_labelled": _share(stable, alive & labelled),
        "stability_chance": _share(chance, alive),
        "precision": None, "precision_chance": None, "precision_labelled": None, "precision_labelled_chance": None,
    }
    if found.precision is not None:
        out.update({"precision": _mean(found.precision, alive), "precision_chance": _mean(found.chance, alive),
                    "precision_labelled": _mean(found.precision, alive & labelled),
                    "precision_labelled_chance": _mean(found.chance, alive & labelled)})
    return out


def random_threshold(scores: torch.Tensor, alive: torch.Tensor) -> float | None:
    """The :data:`RANDOM_QUANTILE` of the randomised layer's top-1 scores over its live even-numbered units (the
    calibration half), or None when it has none."""
    even = torch.zeros_like(alive)
    even[0::2] = True
    calib = scores[alive & even]
    return float(torch.quantile(calib.double(), RANDOM_QUANTILE)) if calib.numel() else None


def held_out_false_positives(scores: torch.Tensor, alive: torch.Tensor, threshold: float) -> tuple[int, int]:
    """How many of the randomised layer's live odd-numbered units (the held-out half) score at or above
    ``threshold``, and how many there are."""
    odd = torch.zeros_like(alive)
    odd[1::2] = True
    held = scores[alive & odd]
    return int((held >= threshold).sum()), int(held.numel())
