"""Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020, Sec. 3).

Each block's attention, averaged over its heads, with the residual connection as an identity added and the rows
renormalised, ``Â_l = (0.5 · mean_h A_l + 0.5 · I)`` (rows of ``A_l`` sum to 1, so the rows of ``Â_l`` do too), is
multiplied through the blocks from the first:

    rollout = Â_L · Â_(L-1) · ... · Â_1

The class token's row of ``rollout`` over the patch tokens is the map: how much of the class token's final
representation flows from each patch, by the attention alone. It does not depend on the explained class (the
paper's method has no gradient); the weights are had as :mod:`.attention_weights` says.
"""

from __future__ import annotations

import torch

from .attention_weights import AttentionExplainer


def rollout(weights: list[torch.Tensor]) -> torch.Tensor:
    """tokens x tokens: the product of every block's head-averaged attention with the identity added, halved
    (the first image of the batch; ``weights`` in block order, each batch x heads x tokens x tokens)."""
    tokens = weights[0].shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64)
    flow = eye
    for block in weights:
        mixed = 0.5 * block[0].double().mean(dim=0) + 0.5 * eye
        flow = (mixed / mixed.sum(dim=-1, keepdim=True)) @ flow
    return flow.float()


class RolloutExplainer(AttentionExplainer):
    """Attention rollout through the :class:`~.explainer.Explainer` interface (no parameters)."""

    name = "rollout"

    def relevance(self, weights, grads):
        return rollout(weights)

    @property
    def runs(self):
        return (*super().runs, rollout)

    def settings(self) -> dict[str, str]:
        return {"Attention rollout": "every block's attention averaged over heads, 0.5 A + 0.5 I, multiplied from "
                                     "the first block; the class token's row on the patch grid (class-agnostic)"}
