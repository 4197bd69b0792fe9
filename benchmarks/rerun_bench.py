"""What the benchmarks of the metrics that re-run the method share (``metrics_robustness.py``,
``metrics_randomisation.py``): EfficientNet-Lite0 with its packaged weights, study photos, three re-runnable
methods (input gradient, gradient x input, Grad-CAM at ``bn2`` through ``pytorch_grad_cam``), the adapter that hands
a method to Quantus as its ``explain_func`` (the tests', ``tests/rerun_fixtures.py``), and the timing line.

Printed per metric::

    NAME ours_s=... quantus_s=... ratio=... max_abs_diff=... rerun_s=... default_s_per_image=...

``ratio`` is ``quantus_s / ours_s`` on the same images, maps and draws; ``max_abs_diff`` the largest difference of
the two numbers over images and methods; ``rerun_s`` the mean seconds of one re-run of a method (the unit both sides
spend); ``default_s_per_image`` the re-runs of all three methods at the metric's default settings times ``rerun_s``
(an estimate from the measured re-run, not a run at the defaults).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "tests"))  # the Quantus adapter the tests use

from PIL import Image  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

from xai_report.attribution.metrics.base import MetricInput  # noqa: E402
from xai_report.data import prepare  # noqa: E402
from xai_report.models import load_model  # noqa: E402
from rerun_fixtures import quantus_explain  # noqa: E402,F401  (re-exported for the two benchmarks)

PHOTOS = ("n01443537_goldfish.JPEG", "n07747607_orange.JPEG")


def gradient(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, target], x)
    return grad[0].sum(0).numpy().astype(np.float32)


def gradient_x_input(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, target], x)
    return (grad * x)[0].sum(0).detach().numpy().astype(np.float32)


def gradcam(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    with GradCAM(model=model, target_layers=[model.bn2]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0].astype(np.float32)


RUNS = {"gradient": gradient, "gradient_x_input": gradient_x_input, "gradcam": gradcam}


def images(runs=RUNS) -> list[MetricInput]:
    """The photos as EfficientNet-Lite0 sees them, each with its top class and every method's map of it."""
    loaded = load_model({"source": "packaged"}, offline=True)
    model = loaded.module.eval()
    found = []
    for name in PHOTOS:
        x = prepare(Image.open(REPO / "data" / "images" / name).convert("RGB"), loaded.preprocess).tensor
        with torch.no_grad():
            target = int(model(x).argmax())
        maps = {m: run(model, x, target) for m, run in runs.items()}
        found.append(MetricInput(model=model, x=x, target=target, maps=maps, preprocess=loaded.preprocess,
                                 explainers=dict(runs)))
    return found


def rerun_seconds(inputs: MetricInput) -> float:
    """Mean seconds of one re-run over the methods (after one warm-up each)."""
    spent = []
    for run in inputs.explainers.values():
        run(inputs.model, inputs.x, inputs.target)
        start = time.perf_counter()
        run(inputs.model, inputs.x, inputs.target)
        spent.append(time.perf_counter() - start)
    return float(np.mean(spent))


def timed(fn: Callable[[], dict]) -> tuple[float, dict]:
    start = time.perf_counter()
    found = fn()
    return time.perf_counter() - start, found


def report(name: str, ours: Callable[[], dict], theirs: Callable[[], dict], rerun_s: float,
           default_reruns: int, note: str = "") -> None:
    """Time both sides (values: {(image, method): number}) and print the metric's line."""
    ours_s, ours_v = timed(ours)
    theirs_s, theirs_v = timed(theirs)
    diff = max(abs(ours_v[k] - theirs_v[k]) for k in ours_v)
    print(f"{name} ours_s={ours_s:.2f} quantus_s={theirs_s:.2f} ratio={theirs_s / ours_s:.2f} "
          f"max_abs_diff={diff:.2e} rerun_s={rerun_s:.3f} default_s_per_image={default_reruns * rerun_s:.1f}"
          f"  # {note}", flush=True)


def machine() -> None:
    import os
    print(f"cpus={os.cpu_count()} torch_threads={torch.get_num_threads()} torch={torch.__version__} "
          f"load={os.getloadavg()[0]:.1f}", flush=True)
