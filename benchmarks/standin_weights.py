"""Write stand-in weights for the default study: random (seeded) weights of its real architectures, in the
real checkpoints' file formats, so that ``studies/standin.toml`` runs every code path of the default study
on a machine that cannot download the trained weights.

    python benchmarks/standin_weights.py [--out DIR] [--seed N] [--force]

Files written into ``DIR`` (default ``.standin/`` at the repository root, git-ignored), each named in
``studies/standin.toml``:

* ``resnet50_imagenet.pth``, ``resnet18_imagenet.pth``: torchvision ResNet50 / ResNet18 with 1000 classes,
  as plain state dicts (the format of torchvision's own ``resnet50-11ad3fa6.pth``).
* ``resnet18_places365.pth.tar``: ResNet18 with 365 classes in CSAIL's checkpoint format (their training
  script saves ``{'epoch', 'arch', 'state_dict', 'best_prec1'}`` from ``DataParallel``, so every tensor
  name starts with ``module.``).
* ``clip_ViT-B-16.pt``: an open_clip ViT-B-16 state dict (``open_clip.create_model('ViT-B-16')``).

Weights come from each library's own initialisation after ``torch.manual_seed(seed)``: a forward pass costs
what it costs with trained weights, which is all the stand-in study is for (its explanations and neuron
labels mean nothing). The same seed and library versions give byte-identical files, so the build cache,
keyed by the files' hashes, stays valid when they are rewritten. Existing files are kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / ".standin"


def _torchvision_state(arch: str, num_classes: int) -> dict[str, torch.Tensor]:
    import torchvision

    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes).state_dict()


def resnet50_imagenet() -> dict:
    return _torchvision_state("resnet50", 1000)


def resnet18_imagenet() -> dict:
    return _torchvision_state("resnet18", 1000)


def resnet18_places365() -> dict:
    """CSAIL's layout: the model was wrapped in ``DataParallel`` when saved, hence ``module.``."""
    state = _torchvision_state("resnet18", 365)
    return {"epoch": 90, "arch": "resnet18", "best_prec1": 0.0,
            "state_dict": {f"module.{name}": tensor for name, tensor in state.items()}}


def clip_vit_b_16() -> dict:
    import open_clip

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # open_clip warns that it initialised randomly: that is the point here
    try:
        return open_clip.create_model("ViT-B-16", pretrained=None).state_dict()
    finally:
        root.setLevel(level)


FILES: dict[str, Callable[[], dict]] = {
    "resnet50_imagenet.pth": resnet50_imagenet,
    "resnet18_imagenet.pth": resnet18_imagenet,
    "resnet18_places365.pth.tar": resnet18_places365,
    "clip_ViT-B-16.pt": clip_vit_b_16,
}
"""File name -> the checkpoint object saved under it (names as ``studies/standin.toml`` expects them)."""


def write_standin_weights(folder: Path, seed: int = 0, force: bool = False) -> list[Path]:
    """Write every file of :data:`FILES` into ``folder`` (kept when present, unless ``force``); their paths.

    Each file is seeded on its own (``seed`` + its position), so one can be rewritten without the others.
    A file appears complete or not at all (written to a temporary name, then renamed).
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (name, make) in enumerate(FILES.items()):
        path = folder / name
        paths.append(path)
        if path.is_file() and not force:
            continue
        torch.manual_seed(seed + index)
        tmp = path.with_name(f".{name}.part")
        torch.save(make(), tmp)
        tmp.replace(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder to write into (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the first file (default 0)")
    parser.add_argument("--force", action="store_true", help="rewrite files that already exist")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = write_standin_weights(args.out, seed=args.seed, force=args.force)
    size = sum(p.stat().st_size for p in paths) / 2**20
    print(f"stand-in weights in {args.out}: {', '.join(p.name for p in paths)} "
          f"({size:.0f} MiB, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
