"""The logit of a vision transformer, decomposed over the features its linear head reads.

A ViT, DeiT or Swin classifier ends in a norm, a pooling of its tokens (the class token, or the mean of the
patch tokens or of the grid) and one linear layer. The logit of class ``c`` is then exactly

    z_c = sum_j W[c, j] * f_j + b[c]

over the pooled, normed features ``f`` the head reads (Dosovitskiy et al., "An Image is Worth 16x16 Words",
ICLR 2021, Eq. 4 and Sec. 3.1), so "which features made this prediction" has an exact answer, feature by
feature, as :mod:`.contributions` gives for CNNs over pooled channels. :func:`find_token_head` checks on a real
input which features these are: the head's input must equal a pooling of the last norm's output.

A distilled DeiT (Touvron et al., "Training data-efficient image transformers & distillation through attention",
ICML 2021, Sec. 5) has two linear heads, over the class token and over the distillation token, and averages them:
``z_c = (W1[c] · f_cls + b1[c] + W2[c] · f_dist + b2[c]) / 2``. That is one linear layer over both tokens'
features concatenated, each head's weights halved (:class:`AveragedHeads`), so the logit decomposes exactly over
the ``2 x C`` features, the class token's first.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import nn

from .contributions import _close, logit_heads, watched_pass

POOL_TOLERANCE = 1e-4
"""Largest relative difference between the head's input and the pooled norm output (float rounding)."""


class AveragedHeads(nn.Linear):
    """The average of linear heads over different inputs as one linear layer over their inputs concatenated:
    ``weight = [W_1, ..., W_k] / k``, ``bias = mean(b_i)``; ``sources`` are the heads, whose inputs
    :func:`.contributions.forward_with_features` reads."""

    def __init__(self, heads: list[nn.Linear]) -> None:
        first = heads[0]
        super().__init__(sum(h.in_features for h in heads), first.out_features, bias=True,
                         device=first.weight.device, dtype=first.weight.dtype)
        with torch.no_grad():
            self.weight.copy_(torch.cat([h.weight for h in heads], dim=1) / len(heads))
            self.bias.copy_(sum(h.bias if h.bias is not None else torch.zeros_like(first.weight[:, 0])
                                for h in heads) / len(heads))
        self.sources = tuple(heads)  # a tuple, not a ModuleList: not registered as children


def averaged_heads(linears: list[tuple[str, nn.Linear]], seen: dict[str, tuple], logits: torch.Tensor
                   ) -> list[tuple[str, nn.Linear]]:
    """The linear layers (two or more, in model order) whose outputs, averaged, are the logits; else []."""
    shaped = [(n, m) for n, m in linears if n in seen and isinstance(seen[n][1], torch.Tensor)
              and seen[n][1].shape == logits.shape]
    if len(shaped) < 2:
        return []
    mean = sum(seen[n][1].float() for n, _m in shaped) / len(shaped)
    return shaped if float((mean - logits.float()).abs().max()) <= POOL_TOLERANCE * max(1.0, float(logits.abs().max())) else []


def _poolings(output: torch.Tensor, prefix: int) -> dict[str, torch.Tensor]:
    """The ways a token model pools its last norm's output, by the phrase the page shows."""
    if output.ndim == 3:
        found = {"class token": output[:, 0], "mean of the patch tokens": output[:, prefix:].mean(1),
                 "mean of all tokens": output.mean(1)}
        if prefix > 1:
            found["distillation token"] = output[:, 1]
        return found if prefix > 0 else {"mean of the tokens": output.mean(1)}
    if output.ndim == 4:  # channels last (N, H, W, C): Swin
        return {"mean over the grid": output.mean((1, 2))}
    return {"pooled token": output} if output.ndim == 2 else {}


def find_token_head(model: nn.Module, x: torch.Tensor, prefix: int = 1) -> Union[tuple[nn.Linear, str, str], str]:
    """(the head, what its input features are, the final norm's layer name) when the model's logits come from one
    linear layer over a pooled, normed token; otherwise a short reason."""
    watched = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.LayerNorm))]
    logits, seen = watched_pass(model, x, watched)
    linears = [(n, m) for n, m in watched if isinstance(m, nn.Linear)]
    heads = logit_heads(linears, seen, logits)
    norms = [n for n, m in watched if isinstance(m, nn.LayerNorm) and n in seen]
    averaged = [] if heads else averaged_heads(linears, seen, logits)
    if not (heads or averaged) or not norms:
        return "no linear layer over a normed token produces the logits"
    norm = norms[-1]
    reads = []
    for name, _head in (heads[-1:] or averaged):
        features = seen[name][0].float()
        found = [phrase for phrase, pooled in _poolings(seen[norm][1].float(), prefix).items()
                 if _close(pooled, features)]
        if not found:
            return f"the classifier's input is not a pooled token of the final norm ({norm})"
        reads.append((found[0], features.shape[1]))
    if heads:
        phrase, width = reads[0]
        return heads[-1][1], f"the {width} features of the {phrase} after the final norm ({norm})", norm
    tokens = " and the ".join(phrase for phrase, _w in reads)
    share = "halved" if len(reads) == 2 else f"divided by {len(reads)}"
    features = f"the {len(reads)} x {reads[0][1]} features of the {tokens} after the final norm ({norm}), in that order"
    return AveragedHeads([m for _n, m in averaged]), f"{features}, each head's share {share}", norm
