"""Expected Gradients (Erion, Janizek, Sturmfels, Lundberg & Lee, "Improving performance of deep learning models
with axiomatic attribution priors and expected gradients", Nature Machine Intelligence 2021): Integrated Gradients
averaged over baselines drawn from the data,

    EG_i(x) = E_{x' ~ D, α ~ U(0, 1)}[ (x_i - x'_i) · ∂f_c(x' + α (x - x')) / ∂x_i ]

which is GradientSHAP (:mod:`.gradient_shap`, no input noise) with the baselines ``D`` = ``probe_images`` photos of
the ``probe`` folder, prepared as the model sees them and drawn from the study's seed. ``probe``: a folder,
absolute or relative to the project's root (``data/probe/imagenet-val`` by default). The photos' bytes enter the
maps' cache key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from ...errors import ConfigError
from ...paths import REPO_ROOT
from .baselines import files_digest, probe_files, probe_photos
from .gradient_shap import GradientShapExplainer


class ExpectedGradientsParams(BaseModel):
    """``[attribution.expectedgradients]``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    samples: int = 32
    """Draws of (photo, α)."""
    probe: str = "data/probe/imagenet-val"
    """The folder the baseline photos come from."""
    probe_images: int = 16
    """How many of its photos are the baselines."""
    stdev: float = 0.0
    """No input noise (Expected Gradients adds none); kept for the shared draws."""

    def check(self) -> None:
        if self.samples < 1 or self.probe_images < 1:
            raise ConfigError("attribution.expectedgradients: samples >= 1 and probe_images >= 1 are required")
        if not self.folder().is_dir():
            raise ConfigError(f"attribution.expectedgradients.probe: {self.folder()} is not a folder; "
                              "give a folder of photos")

    def folder(self) -> Path:
        path = Path(self.probe)
        return path if path.is_absolute() else REPO_ROOT / path


class ExpectedGradientsExplainer(GradientShapExplainer):
    """GradientSHAP with probe photos as the baselines."""

    name = "expectedgradients"
    method: ExpectedGradientsParams

    def photos(self) -> list[Path]:
        return probe_files(self.method.folder(), self.method.probe_images, self.seed)

    def references(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self, "_references", None) is None or self._references.device != x.device:
            self._references = probe_photos(self.photos(), self.preprocess, x.device)
        return self._references

    def params(self) -> dict[str, Any]:
        return {**super().params(), "probe_photos": files_digest(self.photos())}
