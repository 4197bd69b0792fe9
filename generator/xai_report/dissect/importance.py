"""How much each neuron matters, to rank the neurons of a layer (the model pages' "most important").

This project's addition to CLIP-Dissect (Oikarinen & Weng, ICLR 2023): two definitions, picked per layer
by :func:`layer_importance`.
"""

from __future__ import annotations

import torch

from ..models import LoadedModel
from .classifier import classifier, classifier_name, feeds_classifier

BY_CLASSIFIER = "classifier weight"
BY_ACTIVATION = "activation x score"
"""The two kinds of importance, as ``importance_kind`` names them in ``results.json`` and the CSVs."""


def fc_importance(activations: torch.Tensor, fc_weight: torch.Tensor) -> torch.Tensor:
    """Importance of the neurons feeding a linear classifier: ``mean_i |a_ij| * ||W[:, j]||_2``.

    ``activations`` (images x neurons) are the pooled activations that enter the classifier (e.g. the
    spatially averaged ``layer4`` of a ResNet), ``fc_weight`` (classes x neurons) its weight. The value is
    the average length of neuron j's contribution ``a_ij W[:, j]`` to the logit vector.
    """
    if activations.shape[1] != fc_weight.shape[1]:
        raise ValueError(f"{activations.shape[1]} neurons but the classifier takes {fc_weight.shape[1]} inputs")
    return activations.float().abs().mean(dim=0) * fc_weight.float().norm(dim=0)


def activation_importance(activations: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """Importance of any layer's neurons: ``(m_j / max_k m_k) * max(s_j, 0)``.

    ``m_j = mean_i |a_ij|`` is the neuron's mean activation magnitude on the probing images, scaled by the
    layer's largest so layers are comparable; ``s_j`` its label score. High for neurons that fire strongly
    *and* have a confident label; 0 for dead neurons and for labels scoring below 0.
    """
    m = activations.float().abs().mean(dim=0)
    scale = m.max()
    m = m / scale if scale > 0 else m
    return m * similarity.float().clamp(min=0)


def layer_importance(model: LoadedModel, layer: str, acts: dict[str, torch.Tensor], scores: torch.Tensor,
                     pool: str) -> tuple[torch.Tensor, str]:
    """``fc_importance`` for the layer that feeds the classifier directly (checked numerically: the
    classifier of its mean-pooled activations reproduces the logits), ``activation_importance`` else;
    with the kind's name."""
    fc, name = classifier(model), classifier_name(model)
    a = acts[layer]
    if layer != name and fc is not None and feeds_classifier(fc, a, acts.get(name), pool):
        return fc_importance(a, fc.weight.detach().float().cpu()), BY_CLASSIFIER
    return activation_importance(a, scores), BY_ACTIVATION
