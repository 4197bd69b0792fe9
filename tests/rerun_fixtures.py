"""Re-runnable methods on a tiny CNN, for the metrics that re-run the method (robustness, randomisation): a plain
gradient saliency in torch, a Grad-CAM through ``pytorch_grad_cam``, and the adapter that hands either to Quantus
as its ``explain_func``."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from conftest import TinyNet
from xai_report.attribution.metrics.base import MetricInput
from xai_report.models.preprocess import Preprocess

SIZE = 32


def saliency(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """The signed input gradient of the class's logit, summed over the colour channels."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, target], x)
    return grad[0].sum(0).numpy().astype(np.float32)


def gradcam(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM at the model's own ``features`` (so a randomised copy is explained at its own layer)."""
    with GradCAM(model=model, target_layers=[model.features]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0].astype(np.float32)


def first_channel(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """A "method" that ignores the model and the class: the input's first channel."""
    return x[0, 0].detach().numpy().astype(np.float64)


RUNS = {"saliency": saliency, "gradcam": gradcam}


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return TinyNet().eval()


def tiny_inputs(model: torch.nn.Module, runs=RUNS, seed: int = 0, target: int = 0,
                without: tuple[str, ...] = ()) -> MetricInput:
    """One random normalised 32 px image, every method's map of it, and the re-runs (but those in ``without``)."""
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    maps = {m: np.asarray(run(model, x, target), np.float32) for m, run in runs.items()}
    return MetricInput(model=model, x=x, target=target, maps=maps,
                       preprocess=Preprocess(resize=SIZE, crop=SIZE, mean=(0.5,) * 3, std=(0.25,) * 3),
                       explainers={m: run for m, run in runs.items() if m not in without})


def quantus_explain(run):
    """``run`` as Quantus's ``explain_func``: a numpy batch in (float64 after Quantus adds noise), (N, 1, H, W) out."""
    def explain_func(model, inputs, targets, **kwargs):
        inputs = np.asarray(inputs, dtype=np.float32)
        maps = [run(model, torch.from_numpy(x[None].copy()), int(t)) for x, t in zip(inputs, targets)]
        return np.stack(maps)[:, None]
    return explain_func


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def unchanged(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
