"""The speed measurements of ``benchmarks/bench.py --json`` as a Markdown section.

One template (``benchmark.md.j2``) renders them for the site's methodology page (when the study names a
``benchmarks`` folder) and for the README (``python benchmarks/table.py`` rewrites the marked section), so
both show exactly what the benchmark wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BadInput
from ..paths import TEMPLATES_DIR
from .markdown import environment

REQUIRED_KEYS = ("mode", "machine", "results")


def load_runs(folder: Path) -> list[dict]:
    """Every ``*.json`` result in ``folder`` (sorted by name), each with a ``label`` (its file name)."""
    runs = []
    for path in sorted(folder.glob("*.json")):
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadInput(f"{path}: not readable as JSON ({exc}); re-run benchmarks/bench.py --json {path}") from None
        if not isinstance(run, dict) or any(key not in run for key in REQUIRED_KEYS):
            raise BadInput(f"{path}: not a benchmarks/bench.py --json result (needs {', '.join(REQUIRED_KEYS)}); "
                           f"re-run benchmarks/bench.py --json {path}")
        run["label"] = path.stem
        for result in run["results"]:
            goal = result.get("goal")
            result["met"] = None if goal is None else result["ratio"] >= goal
        runs.append(run)
    return runs


def benchmark_markdown(runs: list[dict]) -> str:
    """The Markdown section for ``runs`` (as :func:`load_runs` returns them)."""
    return environment(TEMPLATES_DIR).get_template("benchmark.md.j2").render(benchmarks=runs)
