"""SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", ICML Workshop 2017): the gradient
averaged over noisy copies of the image, as captum's ``NoiseTunnel(Saliency)`` with ``nt_type="smoothgrad"``.

    M(x) = (1/n) Σ_{i=1}^{n} ∂f_c(x + ε_i) / ∂x,   ε_i ~ N(0, σ²),   σ = noise · (max(x) - min(x))

with ``f_c`` the target logit and ``noise`` the paper's noise level (10-20% of the input's range works best, its
section 3.2). The gradient is kept signed (captum ``abs=False``) and the map sums the channels. The samples are
drawn first and run ``attribution.batch_size`` at a time (:mod:`.sampled_gradients`).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...data import PreparedImage
from ...errors import ConfigError
from .captum_adapter import Attributed, CaptumExplainer
from .sampled_gradients import draws, mean_gradient


class SmoothGradParams(BaseModel):
    """``[attribution.smoothgrad]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    samples: int = 50
    """Noisy copies n (the paper's 50)."""
    noise: float = 0.15
    """σ as a fraction of the input's range."""

    def check(self) -> None:
        if self.samples < 1 or not 0.0 < self.noise <= 1.0:
            raise ConfigError("attribution.smoothgrad: samples >= 1 and 0 < noise <= 1 are required")


def noise_stdev(x: torch.Tensor, noise: float) -> float:
    """σ = noise · (max(x) - min(x))."""
    return float(noise * (x.max() - x.min()).item())


class SmoothGradExplainer(CaptumExplainer):
    """SmoothGrad on the target logit, batched by ``attribution.batch_size``."""

    name = "smoothgrad"
    batched = True
    method: SmoothGradParams

    def attribution(self, model: nn.Module, x: torch.Tensor, target: int, image: PreparedImage) -> Attributed:
        p = self.method
        drawn = draws(self.seed, p.samples, 1, tuple(x.shape[1:]), noise_stdev(x, p.noise))
        points = x + drawn.noise.to(x.device, x.dtype)
        return Attributed(mean_gradient(model, target, points, None, self.batch_size))
