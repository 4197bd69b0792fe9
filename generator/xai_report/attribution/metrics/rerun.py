"""Re-running the methods, for the metrics that need it (``needs={"explain"}``: robustness, randomisation).

:func:`split` keeps the methods of an image that can be re-run (``inputs.explainers``) and gives every other one
its reason; :func:`add_noise` perturbs the normalised input the way Quantus does (in float64, then back to the
model's dtype), so that the same noise gives the same perturbed input bit for bit; :func:`normalise_by_max` is
Quantus's default normalisation of a map (divide by the largest magnitude; a map of zeros stays as it is).
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Explain, MetricInput, Score

NOT_RERUN = "not re-run: the study gives this metric no re-run of the method"


def split(inputs: MetricInput) -> tuple[dict[str, Explain], dict[str, Score]]:
    """The re-runs of the methods of ``inputs.maps`` that have one, and an absent score for each that has none."""
    runs = {m: inputs.explainers[m] for m in inputs.maps if m in inputs.explainers}
    return runs, {m: Score.absent(NOT_RERUN) for m in inputs.maps if m not in runs}


def explain(run: Explain, model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """One re-run of a method, as float64 HxW."""
    return np.asarray(run(model, x, target), dtype=np.float64)


def add_noise(x: torch.Tensor, noise: np.ndarray) -> torch.Tensor:
    """``x + noise`` computed in float64 (as Quantus adds noise to its numpy batch), in ``x``'s dtype and device."""
    summed = x.detach().cpu().double().numpy() + noise
    return torch.from_numpy(summed).to(dtype=x.dtype, device=x.device)


def normalise_by_max(a: np.ndarray) -> np.ndarray:
    """``a / max |a|`` (Quantus's ``normalise_by_max`` of one image); a map of zeros is returned as is."""
    peak = np.abs(a).max()
    return a if peak == 0 else a / peak


def nan_max(values: list[float]) -> float:
    """The largest of ``values`` that is not nan (Quantus's ``np.nanmax``); nan when all are."""
    known = [v for v in values if not np.isnan(v)]
    return max(known) if known else float("nan")
