"""The explained logit, decomposed over the units of the layer whose pooled output feeds the classifier.

When a network ends in global average pooling followed by one linear layer, the logit of class ``c`` is exactly

    z_c = sum_j W[c, j] * mean_{h,w} A_j(h, w) + b[c]

for the channels ``A_j`` of that layer: the identity behind CAM (Zhou et al., "Learning Deep Features for
Discriminative Localization", CVPR 2016, Sec. 2). Unit ``j``'s contribution to the explained class is
``W[c, j] * mean(A_j)``; the contributions and the bias add up to the logit, so "which units made this
prediction" has an exact answer, unit by unit. The answer is usually spread out: a handful of units carries a
small part of the positive evidence, which :func:`decompose` reports (``shown_share``) rather than hides.

:func:`find_pooled_head` checks on a real input that the model has this head at the configured layer: the
classifier is the linear layer whose output is the model's output, and its input must equal the spatial mean of
the layer's output. :func:`find_normed_pooled_head` accepts a norm between the two (timm's ConvNeXt: pool,
LayerNorm, linear): the logit then decomposes exactly over the normed pooled features ``f_j`` the linear layer
reads, ``z_c = sum_j W[c, j] * f_j + b[c]``, one per channel of the layer. Any other head (attention pooling, a
second linear layer, max pooling) gets a reason instead.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch
from torch import nn

from ..models.layers import resolve_layer
from ..numbers import rounded

POOL_TOLERANCE = 1e-4
"""Largest relative difference between the classifier's input and the layer's spatial mean (float rounding)."""
SHOWN_UNITS = 10
"""Units listed per image, by contribution to the explained class."""


def watched_pass(model: nn.Module, x: torch.Tensor, watched: list[tuple[str, nn.Module]]
                 ) -> tuple[torch.Tensor, dict[str, tuple]]:
    """One forward pass of ``x`` (no autograd): the logits, and each watched module's first call as
    ``name -> (its first input, its output)``."""
    seen: dict[str, tuple] = {}

    def keep(name: str):
        def hook(_module, inputs, output) -> None:
            seen.setdefault(name, (inputs[0] if inputs else None, output))
        return hook

    handles = [m.register_forward_hook(keep(name)) for name, m in watched]
    try:
        with torch.inference_mode():
            logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, seen


def logit_heads(linears: list[tuple[str, nn.Module]], seen: dict[str, tuple], logits: torch.Tensor
                ) -> list[tuple[str, nn.Module]]:
    """The linear layers whose output is exactly the logits."""
    return [(name, m) for name, m in linears
            if name in seen and isinstance(seen[name][1], torch.Tensor) and seen[name][1].shape == logits.shape
            and torch.equal(seen[name][1], logits)]


def find_pooled_head(model: nn.Module, layer_name: str, x: torch.Tensor) -> Union[nn.Linear, str]:
    """The model's final linear layer when its input is the global average of ``layer_name``'s output on ``x``;
    otherwise a short reason why the logit cannot be decomposed over that layer's units."""
    layer = resolve_layer(model, layer_name)
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    logits, seen = watched_pass(model, x, [*linears, ("\0layer", layer)])
    heads = logit_heads(linears, seen, logits)
    if not heads:
        return "no linear layer produces the logits"
    name, head = heads[-1]
    acts = seen.get("\0layer", (None, None))[1]
    if not isinstance(acts, torch.Tensor) or acts.ndim != 4:
        return f"the output of {layer_name} is not a map of channels"
    pooled, features = acts.float().mean(dim=(2, 3)), seen[name][0].float()
    scale = POOL_TOLERANCE * max(1.0, float(features.abs().max()))
    if features.shape != pooled.shape or float((pooled - features).abs().max()) > scale:
        return f"the classifier's input is not the global average of {layer_name}"
    return head


def find_normed_pooled_head(model: nn.Module, layer_name: str, x: torch.Tensor
                            ) -> Union[tuple[nn.Linear, str, str], str]:
    """(the classifier, what its input features are, the norm's name) when the logits come from one linear layer
    over a norm of the global average of ``layer_name``'s output (timm's ``NormMlpClassifierHead``); otherwise a
    short reason."""
    layer = resolve_layer(model, layer_name)
    watched = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.LayerNorm))]
    logits, seen = watched_pass(model, x, [*watched, ("\0layer", layer)])
    heads = logit_heads([(n, m) for n, m in watched if isinstance(m, nn.Linear)], seen, logits)
    acts = seen.get("\0layer", (None, None))[1]
    if not heads or not isinstance(acts, torch.Tensor) or acts.ndim != 4:
        return "no linear layer over a normed global average produces the logits"
    name, head = heads[-1]
    features, pooled = seen[name][0].float(), acts.float().mean(dim=(2, 3))
    for norm, (norm_in, norm_out) in reversed([(n, seen[n]) for n, m in watched if isinstance(m, nn.LayerNorm)
                                               and n in seen]):
        if _close(norm_out.float().flatten(1), features) and _close(norm_in.float().flatten(1), pooled):
            return head, (f"the {features.shape[1]} features of the global average of {layer_name} after the norm "
                          f"({norm})"), norm
    return f"the classifier's input is not the global average of {layer_name}, normed or not"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same shape and equal within :data:`POOL_TOLERANCE` relative to the larger magnitude."""
    return a.shape == b.shape and float((a - b).abs().max()) <= POOL_TOLERANCE * max(1.0, float(b.abs().max()))


def forward_with_features(model: nn.Module, head: Union[nn.Linear, str], x: torch.Tensor
                          ) -> tuple[torch.Tensor, np.ndarray | None]:
    """The logits for ``x`` and, when ``head`` is a pooled head (not a reason), its input for the first image
    as a float32 vector: the per-channel means the logit is decomposed over. A head made of several linear layers
    (``sources``, :class:`.token_head.AveragedHeads`) reads their inputs, concatenated in their order."""
    captured: dict[int, torch.Tensor] = {}
    sources = [] if isinstance(head, str) else list(getattr(head, "sources", [head]))
    def keep(i: int):
        def hook(_module, inputs, _output) -> None:
            captured.setdefault(i, inputs[0])
        return hook

    handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(sources)]
    try:
        with torch.inference_mode():
            logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    if len(captured) < len(sources) or not sources:
        return logits, None
    return logits, torch.cat([captured[i][0].flatten() for i in range(len(sources))]).float().cpu().numpy()


def decompose(features: np.ndarray, weight: np.ndarray, bias: float, shown: int = SHOWN_UNITS) -> dict:
    """Each unit's contribution ``weight[j] * features[j]`` to one class's logit, the largest ``shown`` of them,
    and how much of the positive evidence they cover.

    ``features`` is the classifier's input (the layer's per-channel means), ``weight`` the class's row of the
    classifier. ``share`` is a unit's part of the sum of positive contributions; ``contributions`` lists every
    unit's, in unit order (the pages sum them per concept).
    """
    contrib = weight.astype(np.float64) * features.astype(np.float64)
    positive = float(contrib[contrib > 0].sum())
    order = np.lexsort((np.arange(contrib.size), -contrib))[:shown]  # largest first, ties by unit index
    units = [{"unit": int(j), "contribution": rounded(contrib[j]),
              "share": rounded(float(contrib[j]) / positive) if positive > 0 else None} for j in order]
    covered = sum(float(contrib[j]) for j in order if contrib[j] > 0)
    return {
        "logit": rounded(float(contrib.sum()) + float(bias)),
        "bias": rounded(bias),
        "positive_total": rounded(positive),
        "negative_total": rounded(contrib[contrib < 0].sum()),
        "units_total": int(contrib.size),
        "units_positive": int((contrib > 0).sum()),
        "shown_share": rounded(covered / positive) if positive > 0 else None,
        "units": units,
        "contributions": [rounded(c) for c in contrib],
    }


def predicted(model: nn.Module, head: Union[nn.Linear, str], x: torch.Tensor) -> tuple[dict, dict]:
    """The predictions artifact of one prepared image: softmax probabilities of every class (``probs.npy``) and,
    when ``head`` is the pooled linear classifier, its input (``features.npy``)."""
    logits, features = forward_with_features(model, head, x)
    probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy().astype(np.float32)
    files = {"probs.npy": probs} | ({} if features is None else {"features.npy": features})
    return {"kind": "predictions", "head": head if isinstance(head, str) else None}, files


def for_image(head: Union[nn.Linear, str], prediction, class_index: int, layer: str) -> dict:
    """The explained logit of one image decomposed over the units of ``layer`` (:func:`decompose`), from the
    classifier ``head`` and the stored predictions artifact (its ``features.npy``), or the reason it cannot be."""
    if isinstance(head, str) or "features.npy" not in prediction.meta["_files"]:
        return {"layer": layer, "absent": head if isinstance(head, str) else "no pooled linear head"}
    weight = head.weight[class_index].detach().float().cpu().numpy()
    bias = 0.0 if head.bias is None else float(head.bias[class_index].detach())
    return {"layer": layer, **decompose(prediction.array("features.npy"), weight, bias)}
