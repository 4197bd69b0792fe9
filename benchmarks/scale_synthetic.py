"""A synthetic 1,301-image output for measuring the site alone (render, ``mkdocs build``, site size, first-load
bytes) without an hour of compute: the records and files of a small computed build of studies/scale.toml
(``benchmarks/scale_subset.py``) repeated under new ids (hard links, no copies). Its numbers are copies, so
only sizes and times mean anything.

    python benchmarks/scale_subset.py 20 /tmp/scale-20 && xai-report build --study /tmp/scale-20/scale.toml
    python benchmarks/scale_synthetic.py /tmp/scale-20 /tmp/syn 1301
    sed 's#/tmp/scale-20/output#/tmp/syn/output#; s#/tmp/scale-20/site_src#/tmp/syn/site_src#' /tmp/scale-20/scale.toml > /tmp/syn/scale.toml
    xai-report render --study /tmp/syn/scale.toml && (cd /tmp/syn && mkdocs build --strict)
"""

import json
import os
import shutil
import sys
from pathlib import Path

from xai_report.attribution import dataset_level


def _replace(value, old: str, new: str):
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value


def main(source: Path, dest: Path, count: int) -> None:
    src, dst = source / "output", dest / "output"
    shutil.rmtree(dst, ignore_errors=True)
    (dst / "maps").mkdir(parents=True)
    (dst / "overlays").mkdir()
    results = json.loads((src / "results.json").read_text())
    base = results["attribution"]["images"]
    copies = []
    for k in range(count):
        record = base[k % len(base)]
        new_id = f"{record['id']}-{k:04d}"
        copy = _replace(record, record["id"], new_id)
        copy["title"] = f"{record['title']} {k:04d}"
        copies.append(copy)
        for folder in ("maps", "overlays"):
            for f in (src / folder).glob(f"{record['id']}_*"):
                os.link(f, dst / folder / f.name.replace(record["id"], new_id, 1))
    results["attribution"]["images"] = copies
    rows = [dataset_level.scores_from_record(r) for r in copies]
    methods = [m["name"] for m in results["attribution"]["methods"]]
    results["attribution"]["dataset"] = dataset_level.summary(rows, methods, 1000, 0)
    (dst / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{count} images, results.json {(dst / 'results.json').stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
