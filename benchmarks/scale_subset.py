"""Write a reduced copy of ``studies/scale.toml``: its first N photos (by name) with their labels, in a folder
of their own, and a study file that builds into that folder. Used to measure how time and peak memory grow
with the image count (the issue's 100- vs 1,301-image comparison at a size that builds in minutes).

    python benchmarks/scale_subset.py 60 /tmp/scale-60
    python benchmarks/scale_subset.py 10 /tmp/benchmark-10 studies/benchmark.toml   # a cut of the benchmark study
    /usr/bin/time -v xai-report build --study /tmp/scale-60/scale.toml   # "Maximum resident set size"
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "probe" / "imagenet-val"


def write_subset(n: int, dest: Path, study: Path = ROOT / "studies" / "scale.toml") -> Path:
    """Copy the first ``n`` labelled photos into ``dest/images`` and write ``dest/<study file name>``; returns its path."""
    images = dest / "images"
    images.mkdir(parents=True, exist_ok=True)
    with open(SOURCE / "labels.csv", newline="") as fh:
        reader = csv.reader(fh)
        header, rows = next(reader), sorted(reader)[:n]
    with open(images / "labels.csv", "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *rows])
    for row in rows:
        shutil.copyfile(SOURCE / row[0], images / row[0])
    text = study.read_text()
    for key, value in (("images", images), ("output_dir", dest / "output"), ("site_dir", dest / "site_src")):
        text = "\n".join(f'{key} = "{value}"' if line.startswith(f"{key} = ") else line for line in text.splitlines())
    (dest / study.name).write_text(text + "\n")
    return dest / study.name


if __name__ == "__main__":  # N DEST [STUDY]: STUDY defaults to studies/scale.toml (studies/benchmark.toml works too)
    print(write_subset(int(sys.argv[1]), Path(sys.argv[2]), *[Path(a).resolve() for a in sys.argv[3:4]]))
