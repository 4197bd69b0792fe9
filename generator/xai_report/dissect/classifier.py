"""The classifier layer of a dissected model: which layers to collect, and whether a layer feeds it.

torchvision's ResNets end in ``fc``, timm's EfficientNets in ``classifier``: a linear layer whose outputs are
the class logits. Its activations serve the fc self-check (:mod:`.self_check`) and the importance of the layer
that feeds it (:mod:`.importance`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..models import LoadedModel, resolve_layer

CLASSIFIER = "fc"
"""The layer whose outputs are the class logits in torchvision's ResNets (the name of CLIP-Dissect's check)."""
NAMES = (CLASSIFIER, "classifier", "head", "head.fc")
"""Where classifiers keep their last linear layer (torchvision ResNets, timm EfficientNets, ViT-like)."""


def classifier_name(model: LoadedModel) -> str | None:
    """The module path of the model's classifier: the first of :data:`NAMES` that is a linear layer."""
    for name in NAMES:
        try:
            layer = resolve_layer(model.module, name)
        except ConfigError:
            continue
        if isinstance(layer, nn.Linear):
            return name
    return None


def classifier(model: LoadedModel) -> nn.Linear | None:
    """The model's classifier layer (:func:`classifier_name`), or None."""
    name = classifier_name(model)
    return None if name is None else resolve_layer(model.module, name)


def collected_layers(key: str, model: LoadedModel, layers: list[str]) -> list[str]:
    """The configured layers (checked now, before any compute), plus the classifier for the self-check."""
    for layer in layers:
        try:
            resolve_layer(model.module, layer)
        except ConfigError as exc:
            raise ConfigError(f"dissection.layers: {exc} (model {key})") from None
    name = classifier_name(model)
    extra = [name] if name is not None and name not in layers else []
    return list(dict.fromkeys(layers)) + extra


def feeds_classifier(fc: nn.Linear, a: torch.Tensor, logits: torch.Tensor | None, pool: str) -> bool:
    """Whether the classifier applied to the mean-pooled activations ``a`` (images x neurons) reproduces the
    logits (within 1e-3, relative): then ``a`` is the classifier's input, as ``layer4`` is in a ResNet."""
    if logits is None or pool != "mean" or a.shape[1] != fc.in_features:
        return False
    with torch.no_grad():
        predicted = torch.nn.functional.linear(a, fc.weight.detach().float().cpu(),
                                               None if fc.bias is None else fc.bias.detach().float().cpu())
    tol = 1e-3 * max(float(logits.abs().max()), 1e-6)
    return bool(torch.allclose(predicted, logits, rtol=1e-3, atol=tol))
