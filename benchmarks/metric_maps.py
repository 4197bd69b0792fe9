"""The benchmark fixture of the map-only metrics (``metrics_localisation.py``, ``metrics_complexity.py``):
EfficientNet-Lite0 with its packaged ImageNet weights, two study photos with object boxes, and three methods'
maps of each at the model's 224x224 input: Grad-CAM and Grad-CAM++ (pytorch-grad-cam at ``bn2``, positive) and
gradient x input summed over the colour channels (signed).

:func:`time_pair` times our registry entry (every method of an image in one call) against Quantus 0.6's own
class (one call per image, the three maps as its batch: Quantus's best case, where that gives the per-map
number; else one call per map, :func:`quantus_call`), best of ``repeat`` runs each.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))  # run from a checkout without installing

from xai_report.attribution.metrics.base import MetricInput  # noqa: E402
from xai_report.attribution.metrics.localisation.boxes import metric_mask, read_boxes  # noqa: E402
from xai_report.data import load_rgb, prepare  # noqa: E402
from xai_report.models import load_model  # noqa: E402

PHOTOS = ("n01443537_goldfish.JPEG", "n01491361_tiger_shark.JPEG")
BOXES = REPO / "data" / "annotations" / "study_image_boxes.csv"


@dataclass(frozen=True)
class Fixture:
    inputs: list[MetricInput]
    """One per photo: the model, its input, the predicted class, the three maps and the box mask."""


def _gradient_x_input(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    x = x.clone().requires_grad_(True)
    model(x)[0, target].backward()
    return (x.grad * x).sum(1)[0].detach().numpy().astype(np.float32)


def fixture() -> Fixture:
    """The two photos' :class:`MetricInput` (module docstring)."""
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    loaded = load_model({"source": "packaged"}, offline=True)
    model, pre = loaded.module.eval(), loaded.preprocess
    boxes = read_boxes(BOXES)
    found = []
    for name in PHOTOS:
        img = load_rgb(REPO / "data" / "images" / name)
        x = prepare(img, pre).tensor
        with torch.no_grad():
            target = int(model(x).argmax(1))
        maps = {"gradcam_pp" if cls is GradCAMPlusPlus else "gradcam":
                cls(model=model, target_layers=[model.bn2])(x, targets=[ClassifierOutputTarget(target)])[0]
                for cls in (GradCAM, GradCAMPlusPlus)}
        maps["gradient_x_input"] = _gradient_x_input(model, x, target)
        found.append(MetricInput(model=model, x=x, target=target, preprocess=pre,
                                 maps={m: v.astype(np.float32) for m, v in maps.items()},
                                 boxes=metric_mask(boxes, name, img.size, pre)))
    return Fixture(found)


def quantus_call(metric, inputs: MetricInput, with_boxes: bool, per_map: bool = False) -> dict[str, float]:
    """Quantus's own call on one image: the methods' maps as one batch (the input repeated), or with ``per_map``
    one call per map. Quantus 0.6 max-normalises a whole ``a_batch`` by one maximum (``Metric.general_preprocess``,
    ``normalise_by_max`` over every axis), so a metric that is not scale-invariant (a threshold or an epsilon after
    the normalisation) gives the per-map number only in a batch of one."""
    if per_map:
        return {m: quantus_call(metric, replace(inputs, maps={m: v}), with_boxes)[m] for m, v in inputs.maps.items()}
    methods = list(inputs.maps)
    n = len(methods)
    kwargs = {"s_batch": np.repeat(inputs.boxes[None, None].astype(np.float32), n, 0)} if with_boxes else {}
    scores = metric(model=inputs.model, x_batch=np.repeat(inputs.x.numpy(), n, 0),
                    y_batch=np.full(n, inputs.target), a_batch=np.stack([inputs.maps[m][None] for m in methods]),
                    device="cpu", **kwargs)
    return dict(zip(methods, (float(s) for s in scores)))


def _best(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def time_pair(name: str, ours: Callable[[MetricInput], dict], theirs: Callable[[MetricInput], dict[str, float]],
              fix: Fixture, repeat: int = 5) -> dict:
    """Seconds per image of both sides (best of ``repeat``), their ratio and the largest difference."""
    ours_s, ours_out = _best(lambda: [ours(i) for i in fix.inputs], repeat)
    theirs_s, theirs_out = _best(lambda: [theirs(i) for i in fix.inputs], repeat)
    diffs = [abs(o[m].value - t[m]) for o, t in zip(ours_out, theirs_out) for m in o
             if o[m].value is not None and np.isfinite(t[m])]
    per_image = len(fix.inputs)
    return {"metric": name, "ours_s_per_image": ours_s / per_image, "quantus_s_per_image": theirs_s / per_image,
            "ratio": theirs_s / ours_s, "max_abs_diff": max(diffs) if diffs else float("nan"),
            "compared": len(diffs)}


def print_table(rows: list[dict]) -> None:
    """The rows as a Markdown table."""
    print("| metric | ours s/image | Quantus s/image | ratio | max abs diff | pairs compared |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| `{r['metric']}` | {r['ours_s_per_image']:.2e} | {r['quantus_s_per_image']:.2e} | "
              f"{r['ratio']:.1f}x | {r['max_abs_diff']:.2e} | {r['compared']} |")
