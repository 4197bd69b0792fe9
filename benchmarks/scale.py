"""Images per minute of the scale study's work (studies/scale.toml: EfficientNet-Lite0, Grad-CAM, Ablation-CAM, the
faithfulness metrics), measured in one run: serial, on a local Dask cluster, against the pass floor and against the
straightforward loop a user would write.

    python benchmarks/scale.py [--quick] [--images N] [--loop-images K] [--workers W] [--worker-threads T]
                               [--json FILE]

* ``serial``: ``run_stages`` of a cold study of the first N labelled photos of ``data/probe/imagenet-val`` (model
  loading included), in this process.
* ``dask``: the same cold study on a local cluster of W workers (``xai_report.cluster.connect``; the cluster's start
  is timed apart and not counted); ``--worker-threads`` sets their torch threads (default: the serial build's, which
  gives the serial bits).
* ``floor``: the serial build's own passes, counted while it ran (images through the model without autograd, and
  images through it with autograd, counted as a forward and a backward pass), run again with nothing else: random
  224x224 inputs, no-autograd passes through the frozen CPU copy in the project's chunks (``BatchScorer``), autograd
  passes in batches of 32 with one backward each. ``serial / floor`` is how far the build is from its passes.
* ``loop``: what a user would write, on the first K images: ``pytorch_grad_cam``'s ``GradCAM`` and ``AblationCAM``
  calls, then deletion and insertion curves (the study's steps, the same blurred fill) of each map, one perturbed
  image per forward pass. It does less than the study (no smooth random maps, no 20 % check, no overlays, unit maps or
  agreement), so ``serial / loop`` understates the gain.

``--quick``: 20 images, 2 in the loop (the library's Ablation-CAM takes about a minute per image on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))  # run from a checkout without installing

from xai_report.attribution import inference  # noqa: E402
from xai_report.attribution.metrics.faithfulness.deletion_insertion import deletion_insertion  # noqa: E402
from xai_report.config import load_study  # noqa: E402
from xai_report.data import load_rgb, prepare  # noqa: E402
from xai_report.models import load_model  # noqa: E402
from xai_report.models.layers import resolve_layer  # noqa: E402
from xai_report.pipeline import run_stages  # noqa: E402

PHOTOS = [REPO / "data" / "probe" / "imagenet-val", REPO.parent / "shared" / "data" / "probe" / "imagenet-val"]
STUDY = """title = "scale benchmark"
seed = 0
offline = true
device = "{device}"
output_dir = "{out}"
site_dir = "site_src"
[models.efficientnet_lite0]
source = "packaged"
name = "efficientnet_lite0"
[attribution]
model = "efficientnet_lite0"
images = "{images}"
layer = "bn2"
target = "predicted"
methods = ["gradcam", "ablationcam"]
randomised_methods = []
deletion_steps = {steps}
[dissection]
enabled = false
"""
STEPS = tomllib.loads((REPO / "studies" / "scale.toml").read_text())["attribution"]["deletion_steps"]
"""The scale study's deletion and insertion steps (studies/scale.toml), in the benchmark's study and loop alike."""


def photos(count: int, into: Path) -> Path:
    """The first ``count`` photos (sorted by name) of the labelled probe set, copied into ``into``."""
    source = next((p for p in PHOTOS if p.is_dir()), None)
    if source is None:
        sys.exit(f"no labelled photos in {' or '.join(map(str, PHOTOS))}")
    names = sorted(p.name for p in source.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[:count]
    into.mkdir(parents=True)
    for name in names:
        shutil.copy(source / name, into / name)
    labels = source / "labels.csv"
    if labels.is_file():
        with open(labels, newline="") as fh:
            rows = [r for r in csv.reader(fh)]
        keep = [rows[0]] + [r for r in rows[1:] if r and r[0] in names]
        with open(into / "labels.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(keep)
    return into


class PassCounter:
    """Counts images through the model during a build: without autograd (the frozen copy's chunks and eager
    no-grad calls) and with autograd (eager calls with grad enabled: a forward and a backward each)."""

    def __init__(self, model_class: type):
        self.model_class = model_class
        self.forward = 0
        self.with_grad = 0
        self._inside = False

    def __enter__(self) -> PassCounter:
        original = inference.BatchScorer.__call__
        counter = self

        def scored(scorer, batch):
            counter.forward += int(batch.shape[0])
            counter._inside = True
            try:
                return original(scorer, batch)
            finally:
                counter._inside = False

        def hook(module, args):
            if type(module) is counter.model_class and not counter._inside and args:
                if torch.is_grad_enabled():
                    counter.with_grad += int(args[0].shape[0])
                else:
                    counter.forward += int(args[0].shape[0])

        self._original = original
        inference.BatchScorer.__call__ = scored
        self._handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
        return self

    def __exit__(self, *exc) -> None:
        inference.BatchScorer.__call__ = self._original
        self._handle.remove()


def floor_seconds(model: torch.nn.Module, forward: int, with_grad: int, device: torch.device) -> float:
    """Seconds of ``forward`` no-autograd passes (frozen copy, the project's chunks) and ``with_grad`` forward and
    backward passes (batches of 32) of random 224x224 images, nothing else."""
    torch.manual_seed(0)
    scorer = inference.BatchScorer(model)
    scorer(torch.randn(2, 3, 224, 224, device=device))  # the frozen copy is made once, as in a build
    start = time.perf_counter()
    left = forward
    while left > 0:
        n = min(64, left)
        scorer(torch.randn(n, 3, 224, 224, device=device))
        left -= n
    left = with_grad
    while left > 0:
        n = min(32, left)
        x = torch.randn(n, 3, 224, 224, device=device, requires_grad=True)
        model(x)[:, 0].sum().backward()
        model.zero_grad(set_to_none=True)
        left -= n
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def straightforward_loop(folder: Path, count: int) -> float:
    """Seconds of the loop a user would write (see the module docstring) on the first ``count`` images."""
    from pytorch_grad_cam import AblationCAM, GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    loaded = load_model({"source": "packaged"}, offline=True)
    model = loaded.module.eval()
    layer = resolve_layer(model, "bn2")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[:count]
    start = time.perf_counter()
    for path in files:
        x = prepare(load_rgb(path), loaded.preprocess).tensor
        with torch.no_grad():
            target = int(model(x).argmax())
        for cam_class in (GradCAM, AblationCAM):
            with cam_class(model=model, target_layers=[layer]) as cam:
                saliency = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
            deletion_insertion(model, x, saliency, target, steps=STEPS, batch_size=1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 images, 2 in the straightforward loop")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--loop-images", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="the study's device (cpu, cuda)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.images, args.loop_images = 20, 2
    scratch = Path(tempfile.mkdtemp(prefix="xai-scale-bench."))
    try:
        folder = photos(args.images, scratch / "images")
        found = run(args, scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, value in found.items():
        print(f"{name}={value}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")


def study_in(scratch: Path, folder: Path, name: str, device: str):
    (scratch / name).mkdir()
    study_file = scratch / name / "study.toml"
    study_file.write_text(STUDY.format(out="out", images=folder.as_posix(), device=device, steps=STEPS))
    return load_study(study_file)


def run(args: argparse.Namespace, scratch: Path, folder: Path) -> dict:
    n = args.images
    model_class = type(load_model({"source": "packaged"}, offline=True).module)
    found: dict = {"images": n, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                   "load_start": round(os.getloadavg()[0], 1)}
    with PassCounter(model_class) as counter:
        start = time.perf_counter()
        run_stages(study_in(scratch, folder, "serial", args.device))
        serial = time.perf_counter() - start
    found.update(serial_s=round(serial, 1), serial_ipm=round(n / serial * 60, 1),
                 passes_forward=counter.forward, passes_with_grad=counter.with_grad)

    from xai_report.cluster import connect

    start = time.perf_counter()
    with connect(workers=args.workers, threads=args.worker_threads) as engine:
        cluster_start = time.perf_counter() - start
        start = time.perf_counter()
        run_stages(study_in(scratch, folder, "dask", args.device), engine=engine)
        spread = time.perf_counter() - start
    found.update(workers=args.workers, worker_threads=args.worker_threads or torch.get_num_threads(),
                 cluster_start_s=round(cluster_start, 1), dask_s=round(spread, 1),
                 dask_ipm=round(n / spread * 60, 1), dask_vs_serial=round(serial / spread, 2))

    device = torch.device("cuda" if args.device.startswith("cuda") else "cpu")
    model = load_model({"source": "packaged"}, offline=True).module.to(device).eval()
    floor = floor_seconds(model, counter.forward, counter.with_grad, device)
    found.update(floor_s=round(floor, 1), floor_ipm=round(n / floor * 60, 1),
                 serial_over_floor=round(serial / floor, 2), floor_goal="serial_over_floor <= 1.15")
    loop = straightforward_loop(folder, args.loop_images)
    loop_ipm = args.loop_images / loop * 60
    found.update(loop_images=args.loop_images, loop_s=round(loop, 1), loop_ipm=round(loop_ipm, 2),
                 serial_vs_loop=round(n / serial * 60 / loop_ipm, 1), load_end=round(os.getloadavg()[0], 1))
    return found


if __name__ == "__main__":
    main()
