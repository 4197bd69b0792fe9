"""Layer-wise Relevance Propagation (Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier Decisions
by Layer-Wise Relevance Propagation", PLOS ONE 2015), through zennit 0.5 (Anders et al., "Software for
Dataset-wide XAI: From Local Explanations to Global Insights with Zennit, CoRelAy, and ViRelAy", 2021).

LRP starts from the explained logit ``R = z_c`` and redistributes it backwards, layer by layer, so that each
layer's relevance sums (nearly) to the next one's. For a layer ``z_k = sum_j a_j w_jk + b_k`` the rules are

* epsilon: ``R_j = sum_k a_j w_jk / (z_k + eps · sign(z_k)) · R_k`` (the linear layers);
* z+: the same with only the positive parts ``a_j^+ w_jk^+`` (the convolutions of ``epsilon_plus_flat``);
* gamma: ``R_j = sum_k a_j (w_jk + γ w_jk^+) / sum_j a_j (w_jk + γ w_jk^+) · R_k`` (the convolutions of
  ``epsilon_gamma_box``);
* flat (every input equally, ``epsilon_plus_flat``'s first layer) and z-box (``epsilon_gamma_box``'s first
  layer: inputs bounded by the lowest and highest pixel values, ``l`` and ``h``).

The two composites are those the LRP literature recommends for CNNs (Montavon et al., "Layer-Wise Relevance
Propagation: An Overview", 2019; Kohlbrenner et al., "Towards Best Practice in Explaining Neural Network
Decisions with LRP", IJCNN 2020): zennit's ``EpsilonPlusFlat`` (default) and ``EpsilonGammaBox``, with the box
bounds from the model's preprocessing: pixel values 0 and 1 normalised per channel, ``(0 - mean) / std`` and
``(1 - mean) / std``. The model is canonized first (:mod:`.lrp_canonizers`) and checked to have a rule for every
computation (:mod:`.lrp_coverage`): a model with a module or an operation no rule covers stops with one line.

The exported map is the input relevance summed over the colour channels (float32 HxW, signed: positive is evidence
for the class, negative against it).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...data import PreparedImage
from ...errors import ConfigError
from ...extras import require
from ...models.preprocess import Preprocess
from .. import overlays
from .explainer import Explainer, Explanation, Settings

COMPOSITES = ("epsilon_plus_flat", "epsilon_gamma_box")


class LrpParams(BaseModel):
    """LRP's parameters, the study's ``[attribution.lrp]`` table."""

    model_config = ConfigDict(extra="forbid", strict=True)

    composite: Literal["epsilon_plus_flat", "epsilon_gamma_box"] = "epsilon_plus_flat"
    """Which rules go where (see the module docstring)."""
    epsilon: float = 1e-6
    """eps of the epsilon rule (zennit's default), for the linear layers."""
    gamma: float = 0.25
    """γ of the gamma rule (zennit's default); ``epsilon_gamma_box`` only."""

    def check(self) -> None:
        if self.epsilon <= 0 or self.gamma < 0:
            raise ConfigError("attribution.lrp: epsilon > 0 and gamma >= 0 are required")
        if "gamma" in self.model_fields_set and self.composite != "epsilon_gamma_box":
            raise ConfigError("attribution.lrp.gamma: applies to composite = \"epsilon_gamma_box\" only; remove it or "
                              "set that composite")


def box_bounds(preprocess: Preprocess, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The z-box rule's lowest and highest inputs for a normalised batch of ``shape``: pixels 0 and 1 normalised
    with the model's mean and std, per channel."""
    mean = torch.tensor(preprocess.mean, dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(preprocess.std, dtype=torch.float32)[None, :, None, None]
    return ((0.0 - mean) / std).expand(shape), ((1.0 - mean) / std).expand(shape)


def composite_of(params: LrpParams, preprocess: Preprocess, shape: tuple[int, ...], device: torch.device):
    """zennit's composite for ``params``, with :func:`.lrp_canonizers.canonizers` (a fresh one per use: a
    composite registers to one module at a time)."""
    composites = require("zennit.composites", extra="lrp", needed_by="method lrp")
    from .lrp_canonizers import canonizers

    if params.composite == "epsilon_gamma_box":
        low, high = (b.to(device) for b in box_bounds(preprocess, shape))
        return composites.EpsilonGammaBox(low=low, high=high, epsilon=params.epsilon, gamma=params.gamma,
                                          canonizers=canonizers())
    return composites.EpsilonPlusFlat(epsilon=params.epsilon, canonizers=canonizers())


def relevance(model: nn.Module, x: torch.Tensor, target: int, composite) -> torch.Tensor:
    """The input relevance of class ``target`` (same shape as ``x``), LRP started from ``R = z_target``: the
    gradient of the model under the composite with ``grad_outputs`` the one-hot of the target times its logit
    (zennit's rules are linear in the output relevance, so this is zennit's one-hot call scaled by the logit, and
    the map's sum can be read against the logit)."""
    x = x.detach().clone().requires_grad_(True)
    with composite.context(model) as modified:
        out = modified(x)
        start = torch.zeros_like(out)
        start[:, int(target)] = out[:, int(target)].detach()
        (grad,) = torch.autograd.grad(out, x, grad_outputs=start)
    return grad


class LrpExplainer(Explainer):
    """LRP through the :class:`~.explainer.Explainer` interface, with the study's ``[attribution.lrp]``."""

    def __init__(self, settings: Settings, params: LrpParams) -> None:
        require("zennit", extra="lrp", needed_by="method lrp")
        self.params_ = params
        self.preprocess = settings.preprocess
        self.device = settings.device
        self._checked: set[int] = set()

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        from .lrp_coverage import check_rules

        x = image.tensor.to(self.device)
        if id(model) not in self._checked:
            check_rules(model, self.composite(x), x, type(model).__name__)
            self._checked.add(id(model))
        # The canonizers rewrite parameters in place and put the original tensors back when the context exits.
        found = relevance(model, x, target, self.composite(x))
        return Explanation(map=found[0].sum(0).detach().float().cpu().numpy().astype(np.float32))

    def composite(self, x: torch.Tensor):
        return composite_of(self.params_, self.preprocess, tuple(x.shape), x.device)

    @property
    def runs(self) -> tuple[Any, ...]:
        from .lrp_canonizers import canonizers
        from .lrp_coverage import check_rules

        return (type(self), relevance, composite_of, canonizers, check_rules)

    def params(self) -> dict[str, Any]:
        p = self.params_
        return {"composite": p.composite, "epsilon": p.epsilon,
                **({"gamma": p.gamma} if p.composite == "epsilon_gamma_box" else {})}

    def settings(self) -> dict[str, str]:
        p = self.params_
        if p.composite == "epsilon_gamma_box":
            rules = (f"z-box on the first layer (pixels 0 and 1, normalised), gamma (γ = {p.gamma}) on the other "
                     f"convolutions, epsilon (ε = {p.epsilon}) on the linear layers")
        else:
            rules = f"flat on the first layer, z+ on the other convolutions, epsilon (ε = {p.epsilon}) on the linear layers"
        return {"LRP": f"zennit {p.composite}: {rules}; batch norms merged, residual sums by the Norm rule; map = "
                       "relevance summed over colour channels (signed)"}

    def overlay(self, rgb: np.ndarray, explanation: Explanation) -> bytes:
        """Relevance is signed: drawn centred on zero (red for the class, blue against it)."""
        return overlays.signed_overlay(rgb, explanation.map)
