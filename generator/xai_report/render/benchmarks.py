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
OPTIONAL_KEYS = ("date", "revision", "settings", "build")


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
        for key in OPTIONAL_KEYS:  # the template reads every key: absent ones are None
            run.setdefault(key, None)
        for key in ("load_average_start", "load_average_end"):
            run["machine"].setdefault(key, None)
        for result in run["results"]:
            goal = result.setdefault("goal", None)
            result.setdefault("details", {})
            result["met"] = None if goal is None else result["ratio"] >= goal
        runs.append(run)
    return runs


def benchmark_markdown(runs: list[dict]) -> str:
    """The Markdown section for ``runs`` (as :func:`load_runs` returns them)."""
    return environment(TEMPLATES_DIR).get_template("benchmark.md.j2").render(benchmarks=runs)
