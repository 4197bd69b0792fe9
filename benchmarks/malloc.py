"""Benchmark the malloc settings of ``xai_report.memory`` against glibc's defaults, same machine, same run.

    python benchmarks/malloc.py [--batches N] [--batch N]

Runs the same EfficientNet-Lite0 forward passes (packaged weights, random 224x224 inputs, inference mode) in two
fresh processes, one with the environment as it is minus our settings (``baseline``) and one with
:data:`xai_report.memory.SETTINGS`, and prints ``malloc_effnet ours_s=... baseline_s=... ratio=...`` with each
side's kernel time and page faults: the cost the settings remove.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = """
import json, resource, sys, time, torch
from xai_report.models import load_model
model = load_model({"source": "packaged"}, offline=True).module.eval()
x = torch.randn(%d, 3, 224, 224, generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    model(x)
    r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(%d):
        model(x)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"s": time.perf_counter() - t, "sys_s": r1.ru_stime - r0.ru_stime,
                  "faults": r1.ru_minflt - r0.ru_minflt}))
"""


def run(env: dict[str, str], batch: int, batches: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD % (batch, batches)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from xai_report.memory import SETTINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    plain = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    baseline = run(plain, args.batch, args.batches)
    ours = run({**plain, **SETTINGS}, args.batch, args.batches)
    print(f"malloc_effnet ours_s={ours['s']:.2f} baseline_s={baseline['s']:.2f} ratio={baseline['s'] / ours['s']:.2f} "
          f"sys_s={ours['sys_s']:.2f}/{baseline['sys_s']:.2f} faults={ours['faults']}/{baseline['faults']}")


if __name__ == "__main__":
    main()
