"""Memory the attribution stage's inputs hold as the image count grows: the growth of the resident set after
``load_inputs`` on the 1,300 photos of ``data/probe/imagenet-val`` and a use of every image's prepared tensor.

    python benchmarks/scale_inputs_memory.py new     # this checkout's inputs.py
    python benchmarks/scale_inputs_memory.py old     # inputs.py of e44ab83 (every decoded image kept)

Measured 2026-12-06 on 2 shared CPU cores, with the CLI's malloc settings (xai_report/memory.py):
old +2,078 MB (1.6 MB per image); new +28 MB (22 KB per image: the file list and the hashes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "e44ab83"


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def old_load_inputs():
    source = subprocess.run(["git", "show", f"{OLD_COMMIT}:generator/xai_report/attribution/inputs.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.replace("from ..", "from xai_report.")
    module = type(sys)("old_inputs")
    sys.modules["old_inputs"] = module
    exec(compile(source, "old_inputs", "exec"), module.__dict__)
    return module.load_inputs


def main(which: str) -> None:
    from xai_report.attribution.inputs import load_inputs
    from xai_report.models.preprocess import Preprocess

    load = old_load_inputs() if which == "old" else load_inputs
    preprocess = Preprocess(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    base = rss_mb()
    items, _ = load(ROOT / "data" / "probe" / "imagenet-val", preprocess)
    for item in items:
        float(item.prepared.tensor.sum())
    grown = rss_mb() - base
    print(f"{which}: {len(items)} images, resident set grew {grown:,.0f} MB ({grown / len(items) * 1024:,.0f} KB per image)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "new")
