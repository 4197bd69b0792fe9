"""Gradient-weighted attention: the rule of Chefer, Gur & Wolf, "Generic Attention-model Explainability for
Interpreting Bi-Modal and Encoder-Decoder Transformers", ICCV 2021 (Eq. 5-6, self-attention only).

For each block ``l`` with attention ``A_l`` (heads x tokens x tokens) and the gradient ``∇A_l`` of the explained
class's logit with respect to it, the heads are fused by the positive part of gradient times attention,

    Ā_l = E_h[(∇A_l ⊙ A_l)^+],

and the relevance of tokens to tokens, ``R = I`` before the first block, is updated block by block in forward
order, ``R ← R + Ā_l · R``. The class token's row of ``R`` over the patch tokens is the map (the identity's share
on the class token itself is dropped with the prefix). This is the ICCV 2021 gradient rule, not the CVPR 2021 one
("Transformer Interpretability Beyond Attention Visualization"), which weighs attention by LRP relevance. The
weights and their gradients are had as :mod:`.attention_weights` says.
"""

from __future__ import annotations

import torch

from .attention_weights import AttentionExplainer


def gradient_weighted(weights: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
    """tokens x tokens: ``R`` after every block (the first image of the batch; both lists in block order)."""
    tokens = weights[0].shape[-1]
    relevance = torch.eye(tokens, dtype=torch.float64)
    for attention, grad in zip(weights, grads):
        fused = (grad[0].double() * attention[0].double()).clamp(min=0).mean(dim=0)
        relevance = relevance + fused @ relevance
    return relevance.float()


class GradientAttentionExplainer(AttentionExplainer):
    """Chefer et al.'s gradient-weighted attention through the :class:`~.explainer.Explainer` interface."""

    name = "attentiongrad"
    gradients = True

    def relevance(self, weights, grads):
        return gradient_weighted(weights, grads)

    @property
    def runs(self):
        return (*super().runs, gradient_weighted)

    def settings(self) -> dict[str, str]:
        return {"Gradient-weighted attention": "Chefer et al. (ICCV 2021): per block, heads fused by the mean of "
                                               "(gradient x attention)+, R = R + Ā R from the first block; the class "
                                               "token's row on the patch grid"}
