"""The logit of a vision transformer, decomposed over the features its linear head reads.

A ViT, DeiT or Swin classifier ends in a norm, a pooling of its tokens (the class token, or the mean of the
patch tokens or of the grid) and one linear layer. The logit of class ``c`` is then exactly

    z_c = sum_j W[c, j] * f_j + b[c]

over the pooled, normed features ``f`` the head reads (Dosovitskiy et al., "An Image is Worth 16x16 Words",
ICLR 2021, Eq. 4 and Sec. 3.1), so "which features made this prediction" has an exact answer, feature by
feature, as :mod:`.contributions` gives for CNNs over pooled channels. :func:`find_token_head` checks on a real
input which features these are: the head's input must equal a pooling of the last norm's output.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import nn

from .contributions import logit_heads, watched_pass

POOL_TOLERANCE = 1e-4
"""Largest relative difference between the head's input and the pooled norm output (float rounding)."""


def _poolings(output: torch.Tensor, prefix: int) -> dict[str, torch.Tensor]:
    """The ways a token model pools its last norm's output, by the phrase the page shows."""
    if output.ndim == 3:
        found = {"class token": output[:, 0], "mean of the patch tokens": output[:, prefix:].mean(1),
                 "mean of all tokens": output.mean(1)}
        return found if prefix > 0 else {"mean of the tokens": output.mean(1)}
    if output.ndim == 4:  # channels last (N, H, W, C): Swin
        return {"mean over the grid": output.mean((1, 2))}
    return {"pooled token": output} if output.ndim == 2 else {}


def find_token_head(model: nn.Module, x: torch.Tensor, prefix: int = 1) -> Union[tuple[nn.Linear, str, str], str]:
    """(the head, what its input features are, the final norm's layer name) when the model's logits come from one
    linear layer over a pooled, normed token; otherwise a short reason."""
    watched = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.LayerNorm))]
    logits, seen = watched_pass(model, x, watched)
    heads = logit_heads([(n, m) for n, m in watched if isinstance(m, nn.Linear)], seen, logits)
    norms = [n for n, m in watched if isinstance(m, nn.LayerNorm) and n in seen]
    if not heads or not norms:
        return "no linear layer over a normed token produces the logits"
    name, head = heads[-1]
    features = seen[name][0].float()
    norm = norms[-1]
    scale = POOL_TOLERANCE * max(1.0, float(features.abs().max()))
    for phrase, pooled in _poolings(seen[norm][1].float(), prefix).items():
        if pooled.shape == features.shape and float((pooled - features).abs().max()) <= scale:
            return head, f"the {features.shape[1]} features of the {phrase} after the final norm ({norm})", norm
    return f"the classifier's input is not a pooled token of the final norm ({norm})"
