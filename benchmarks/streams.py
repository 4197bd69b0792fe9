"""Two CPU streams against one: the frozen-copy passes of ``BatchScorer`` with and without ``streams``.

    python benchmarks/streams.py [--rounds 12] [--images 100] [--size 224]

Scores the same batch (random pixels, a randomly initialised ResNet50) both ways, alternating which goes
first, and prints ms per image (min and median over the rounds), the ratio of the medians, and the largest
difference between the two outputs (logits). The median is the figure that matters on a shared machine:
the best case of a pass is the same either way; two streams lose less when a core stalls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generator"))  # run from a checkout

from xai_report.attribution import inference  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    torch.manual_seed(0)
    net = torchvision.models.resnet50().eval()
    batch = torch.randn(args.images, 3, args.size, args.size)
    scorers = {"one": inference.BatchScorer(net, streams=False), "streams": inference.BatchScorer(net)}

    def score(side: str) -> torch.Tensor:
        return scorers[side](batch)

    diff = float((score("streams") - score("one")).abs().max())  # also warms both up (one frozen copy for both)
    times: dict[str, list[float]] = {"one": [], "streams": []}
    for round_ in range(args.rounds):
        for side in ("one", "streams") if round_ % 2 else ("streams", "one"):
            start = time.perf_counter()
            score(side)
            times[side].append((time.perf_counter() - start) * 1000 / args.images)
    print(f"# cpus={torch.get_num_threads()} streams={inference.CPU_STREAMS} images={args.images} size={args.size}")
    for side, values in times.items():
        print(f"{side} min_ms={min(values):.1f} median_ms={statistics.median(values):.1f}")
    ratio = statistics.median(times["one"]) / statistics.median(times["streams"])
    print(f"streams ratio_of_medians={ratio:.2f} max_abs_diff={diff:.2e}")


if __name__ == "__main__":
    main()
