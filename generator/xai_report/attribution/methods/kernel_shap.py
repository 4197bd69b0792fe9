"""KernelSHAP (Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017) on LIME's
superpixels, with captum's ``KernelShap``.

The features are the superpixels LIME uses (quickshift with the study's ``[attribution.lime]`` segmentation
settings and seed: :func:`~.lime_explainer.quickshift`), switched off as LIME switches them off (each hidden
superpixel takes its own mean colour), and the explained score is LIME's, the softmax probability of the class.
KernelSHAP samples ``samples`` coalitions ``z`` and fits the linear model ``g(z) = φ_0 + Σ_j φ_j z_j`` by weighted
least squares with the Shapley kernel ``π(z) = (M - 1) / (C(M, |z|) |z| (M - |z|))`` (M superpixels), so the
weights ``φ_j`` estimate the superpixels' Shapley values. The regions (superpixels and their weights) are the
method's region evidence, so LIME and KernelSHAP are compared region by region; the map gives every pixel its
superpixel's weight. Coalitions are scored ``attribution.batch_size`` at a time (``perturbations_per_eval``); the
sampling draws from torch's generator seeded with the study's seed.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...data import PreparedImage, normalise
from ...errors import ConfigError
from .captum_adapter import Attributed, CaptumExplainer
from .explainer import Regions
from .lime_explainer import LimeParams, quickshift


class KernelShapParams(BaseModel):
    """``[attribution.kernelshap]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    samples: int = 300
    """Coalitions sampled (captum's ``n_samples``)."""

    def check(self) -> None:
        if self.samples < 2:
            raise ConfigError("attribution.kernelshap: samples >= 2 is required")


def mean_colours(rgb: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """The image with every superpixel painted its mean colour (what LIME hides a superpixel with)."""
    flat = segments.ravel()
    counts = np.bincount(flat)
    means = np.stack([np.bincount(flat, weights=rgb[..., c].ravel()) / np.maximum(counts, 1) for c in range(3)], -1)
    return means[segments]


class KernelShapExplainer(CaptumExplainer):
    """captum's ``KernelShap(softmax of the model).attribute(x, baseline, target, feature_mask=superpixels)``."""

    name = "kernelshap"
    channels = "regions"
    batched = True
    method: KernelShapParams

    def lime(self) -> LimeParams:
        return LimeParams.model_validate(self.method_tables.get("lime", {}))

    def superpixels(self, rgb: np.ndarray) -> np.ndarray:
        """int32 HxW superpixel ids, LIME's for this image."""
        lime = self.lime()
        segment = quickshift(lime.kernel_size, lime.max_dist, lime.ratio, self.seed)
        return np.asarray(segment(rgb.astype(np.float64)), dtype=np.int32)

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        segments = self.superpixels(image.rgb)
        hidden = normalise(mean_colours(image.rgb.astype(np.float64), segments).astype(np.float32),
                           self.preprocess, x.device)
        mask = torch.as_tensor(segments, dtype=torch.long, device=x.device)[None, None]
        ids = np.unique(segments)
        if len(ids) == 1:  # one superpixel: its Shapley value is f(x) - f(hidden) (captum's sampler needs two)
            with torch.no_grad():
                scores = torch.softmax(model(torch.cat([x, hidden])), dim=1)[:, target]
            found = torch.full_like(x, float(scores[0] - scores[1]))
            return Attributed(found, regions=Regions(segments, {int(ids[0]): float(scores[0] - scores[1])}))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            found = self.attr.KernelShap(lambda t: torch.softmax(model(t), dim=1)).attribute(
                x, baselines=hidden, target=target, feature_mask=mask, n_samples=self.method.samples,
                perturbations_per_eval=self.batch_size)
        values = found.detach()[0, 0].double().cpu().numpy()
        first = [int(np.flatnonzero(segments.ravel() == s)[0]) for s in ids]
        weights = {int(s): float(values.ravel()[i]) for s, i in zip(ids, first)}
        return Attributed(found, regions=Regions(segments, weights))

    def params(self) -> dict:
        lime = self.lime()
        return {**super().params(), "segmentation": [lime.kernel_size, lime.max_dist, lime.ratio]}
