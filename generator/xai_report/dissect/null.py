"""The null test: how high a label's score must be before it counts as more than chance.

This project's addition to CLIP-Dissect (Oikarinen & Weng, ICLR 2023), whose paper reports labels without
a significance threshold. The null hypothesis is that a neuron fires independently of what the image shows;
it is simulated by shuffling each neuron's activations across the probe images (a permutation test) and
running soft-WPMI again with the same concepts, images and parameters.
"""

from __future__ import annotations

import torch

from .wpmi import soft_wpmi


def shuffle_images(target_feats: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each neuron's column permuted independently across images.

    Keeps every neuron's activation distribution but breaks any link between a neuron and image content.
    """
    perm = torch.argsort(torch.rand(target_feats.shape, generator=generator), dim=0)
    return target_feats.gather(0, perm.to(target_feats.device))


def null_scores(clip_feats: torch.Tensor, target_feats: torch.Tensor, n_shuffles: int = 1, seed: int = 0,
                **wpmi_kwargs) -> torch.Tensor:
    """Top-1 soft-WPMI scores of one layer's neurons after :func:`shuffle_images` (n_shuffles x neurons)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_shuffles):
        scores = soft_wpmi(clip_feats, shuffle_images(target_feats, gen), **wpmi_kwargs)
        out.append(scores.max(dim=1).values)
    return torch.stack(out)


def null_threshold(clip_feats: torch.Tensor, target_feats: torch.Tensor, quantile: float = 0.95,
                   n_shuffles: int = 1, seed: int = 0, **wpmi_kwargs) -> float:
    """The score a neuron's label must reach to count as semantic, for one layer.

    Under the null hypothesis the neuron's top images are a random set, modelled by :func:`shuffle_images`.
    The threshold is the ``quantile`` (default 0.95) of the shuffled neurons' top-1 scores: a real label
    scoring above it beats 95% of labels that chance alone produces. Pass the layer's whole activation
    matrix (``log P(c)`` is computed over the shuffled layer, as for the real one). Cost: ``n_shuffles``
    soft-WPMI runs.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    scores = null_scores(clip_feats, target_feats, n_shuffles=n_shuffles, seed=seed, **wpmi_kwargs)
    return float(torch.quantile(scores.flatten().double(), quantile))
