"""Benchmark the fast attribution paths against the straightforward ones, on the same inputs, in one run.

    python benchmarks/bench.py [--quick] [--device auto|cpu|cuda] [--json FILE] [--only NAME[,NAME...]]

Each piece prints one line ``NAME ours_s=... baseline_s=... ratio=... max_abs_diff=...`` (ratio =
baseline_s / ours_s). Pieces:

* ``ablation_cam_resnet50``: ``FastAblationCAM`` vs ``pytorch_grad_cam.AblationCAM``, ResNet50 ``layer4[-1]``;
  max_abs_diff over the normalised maps.
* ``score_cam_resnet50``: ``FastScoreCAM`` vs ``pytorch_grad_cam.ScoreCAM``, same layer; same metric.
* ``lime_resnet50``: ``lime_image.LimeImageExplainer.explain_instance`` with ``make_classifier_fn`` and
  ``batch_size=100`` vs a per-image-normalising ``classifier_fn`` and ``batch_size=10``, same seed;
  max_abs_diff over the ``local_exp`` weights of the top labels (segments must be identical).
* ``clip_text``: ``xai_report.dissect.clip_text.encode_concepts`` with the truncated context vs the full
  77 tokens on a random-init open_clip ViT-B-16; max_abs_diff = 1 - min cosine over the concepts.

Models are randomly initialised (seed 0): timing does not depend on the weights, and no download is
needed. ``--quick`` (under 5 minutes on 2 CPU cores) uses 112x112 CAM inputs, 200 LIME samples and 300
concepts; the full run uses 224x224, 1000 LIME samples and 2000 concepts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))  # run from a checkout without installing

from xai_report.attribution.fast_cams import FastAblationCAM, FastScoreCAM, make_classifier_fn  # noqa: E402
from xai_report.models import IMAGENET_MEAN, IMAGENET_STD, Preprocess  # noqa: E402

IMAGE = REPO / "data" / "images" / "n01443537_goldfish.JPEG"
CONCEPTS = REPO / "data" / "concepts" / "20k.txt"


@dataclass(frozen=True)
class Settings:
    cam_size: int
    lime_samples: int
    concepts: int


QUICK = Settings(cam_size=112, lime_samples=200, concepts=300)
FULL = Settings(cam_size=224, lime_samples=1000, concepts=2000)


@dataclass
class Result:
    name: str
    ours_s: float
    baseline_s: float
    max_abs_diff: float
    details: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.ours_s if self.ours_s > 0 else float("inf")

    def line(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.details.items())
        return (
            f"{self.name} ours_s={self.ours_s:.2f} baseline_s={self.baseline_s:.2f} ratio={self.ratio:.1f} "
            f"max_abs_diff={self.max_abs_diff:.2e}" + (f"  # {extra}" if extra else "")
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


# ---------------------------------------------------------------------------------------------
# helpers


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """(result, wall seconds); CUDA work is synchronised so the time covers it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def quiet(fn: Callable[[], object]) -> object:
    """Run ``fn`` with grad-cam's tqdm progress bars (on stderr) swallowed."""
    with contextlib.redirect_stderr(io.StringIO()):
        return fn()


def random_resnet50(device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet50().eval().to(device)


def study_image(size: int) -> np.ndarray:
    """The goldfish study image, resized (shorter side) and centre-cropped to ``size``: HxWx3 float32 in [0, 1]."""
    from PIL import Image
    from torchvision.transforms import functional as TF

    with Image.open(IMAGE) as img:
        rgb = img.convert("RGB")
    rgb = TF.center_crop(TF.resize(rgb, size, antialias=True), size)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def normalised(rgb: np.ndarray, pre: Preprocess, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(rgb).permute(2, 0, 1)
    mean, std = torch.tensor(pre.mean).view(3, 1, 1), torch.tensor(pre.std).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0).contiguous().to(device)


def top_class(model: torch.nn.Module, x: torch.Tensor) -> int:
    """The predicted class; the batched forward passes first warm up the kernels for both contenders."""
    with torch.no_grad():
        for batch in (16, 32):
            model(x.expand(batch, -1, -1, -1).contiguous())
        return int(model(x).argmax(dim=1)[0])


# ---------------------------------------------------------------------------------------------
# pieces


def bench_cam(name: str, ours_cls: type, lib_cls: type, settings: Settings, device: torch.device) -> Result:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = random_resnet50(device)
    pre = Preprocess(resize=settings.cam_size, crop=settings.cam_size, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    x = normalised(study_image(settings.cam_size), pre, device)
    klass = top_class(model, x)
    targets = [ClassifierOutputTarget(klass)]

    def run(cam_cls: type) -> np.ndarray:
        with cam_cls(model=model, target_layers=[model.layer4[-1]]) as cam:
            return quiet(lambda: cam(input_tensor=x, targets=targets))

    ours, ours_s = timed(lambda: run(ours_cls))
    base, base_s = timed(lambda: run(lib_cls))
    details = {"input": f"{settings.cam_size}x{settings.cam_size}", "layer": "layer4[-1]", "class": klass}
    return Result(name, ours_s, base_s, float(np.abs(ours - base).max()), details)


def reference_classifier_fn(model: torch.nn.Module, pre: Preprocess, device: torch.device) -> Callable:
    """The straightforward LIME classifier_fn: normalise image by image, stack, classify without autograd."""
    mean, std = torch.tensor(pre.mean).view(3, 1, 1), torch.tensor(pre.std).view(3, 1, 1)

    def classify(images: np.ndarray) -> np.ndarray:
        batch = torch.stack([(torch.from_numpy(np.float32(img)).permute(2, 0, 1) - mean) / std for img in images])
        with torch.no_grad():
            return torch.softmax(model(batch.to(device)), dim=1).cpu().numpy()

    return classify


def bench_lime(settings: Settings, device: torch.device) -> Result:
    from lime import lime_image

    model = random_resnet50(device)
    pre = Preprocess(resize=224, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    image = study_image(224).astype(np.float64)

    def explain(classifier_fn: Callable, batch_size: int):
        explainer = lime_image.LimeImageExplainer(random_state=0)
        return quiet(
            lambda: explainer.explain_instance(
                image, classifier_fn, top_labels=3, hide_color=0, num_samples=settings.lime_samples,
                batch_size=batch_size, random_seed=0,
            )
        )

    ours, ours_s = timed(lambda: explain(make_classifier_fn(model, pre, device=device, batch_size=100), 100))
    base, base_s = timed(lambda: explain(reference_classifier_fn(model, pre, device), 10))
    if not np.array_equal(ours.segments, base.segments) or ours.top_labels != base.top_labels:
        diff = float("inf")  # a different segmentation or label set is not the same explanation
    else:
        diff = max(
            abs(w - dict(base.local_exp[label])[seg]) for label in base.top_labels for seg, w in ours.local_exp[label]
        )
    details = {"samples": settings.lime_samples, "batch": "100 vs 10", "segments": int(base.segments.max()) + 1}
    return Result("lime_resnet50", ours_s, base_s, float(diff), details)


def bench_clip_text(settings: Settings, device: torch.device) -> Result | None:
    try:
        from xai_report.dissect.clip_text import encode_concepts
    except ImportError as exc:
        print(f"# clip_text skipped: xai_report.dissect.clip_text.encode_concepts not importable ({exc})")
        return None
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16", pretrained=None).eval().to(device)
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    words = [w.strip() for w in CONCEPTS.read_text(encoding="utf-8").splitlines() if w.strip()]
    concepts = list(dict.fromkeys(words))[: settings.concepts]

    def encode(truncate: bool) -> torch.Tensor:
        return encode_concepts(model, tokenizer, concepts, device=device, batch_size=256, truncate=truncate)

    ours, ours_s = timed(lambda: encode(True))
    base, base_s = timed(lambda: encode(False))
    cos = torch.nn.functional.cosine_similarity(ours.float(), base.float(), dim=-1)
    return Result("clip_text", ours_s, base_s, float(1 - cos.min()), {"concepts": len(concepts), "model": "ViT-B-16"})


PIECES: dict[str, Callable[[Settings, torch.device], Result | None]] = {
    "ablation_cam_resnet50": lambda s, d: bench_cam("ablation_cam_resnet50", FastAblationCAM, _lib("AblationCAM"), s, d),
    "score_cam_resnet50": lambda s, d: bench_cam("score_cam_resnet50", FastScoreCAM, _lib("ScoreCAM"), s, d),
    "lime_resnet50": bench_lime,
    "clip_text": bench_clip_text,
}


def _lib(name: str) -> type:
    import pytorch_grad_cam

    return getattr(pytorch_grad_cam, name)


# ---------------------------------------------------------------------------------------------
# machine and main


def machine_info(device: torch.device) -> dict:
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    device_name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "device_name": device_name,
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available here")
    return torch.device(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, under 5 minutes on 2 CPU cores")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(PIECES)}")
    args = parser.parse_args(argv)

    names = list(PIECES) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIECES]
    if unknown:
        parser.error(f"unknown piece(s) {', '.join(unknown)}; choose from {', '.join(PIECES)}")
    device = pick_device(args.device)
    settings = QUICK if args.quick else FULL
    machine = machine_info(device)
    print(
        f"# machine: cpus={machine['cpu_count']} torch_threads={machine['torch_threads']} torch={machine['torch']} "
        f"device={machine['device']} ({machine['device_name']}) load={machine['load_average_start']}"
    )
    print(f"# mode: {'quick' if args.quick else 'full'} {asdict(settings)}", flush=True)

    results = []
    for name in names:
        result = PIECES[name](settings, device)
        if result is not None:
            print(result.line(), flush=True)
            results.append(result)
    machine["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    if args.json:
        payload = {
            "mode": "quick" if args.quick else "full",
            "settings": asdict(settings),
            "machine": machine,
            "results": [r.to_dict() for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
