"""``build`` = every enabled stage, then the pages. Stages are a registry; each reads only the config and
the artifact store and returns its section of ``results.json``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__
from .config import Study
from .store import ArtifactStore, write_atomic

RESULTS_FILE = "results.json"
TIMINGS_FILE = "timings.json"


def _run_attribution(study: Study, store: ArtifactStore):
    from .attribution.stage import AttributionStage

    stage = AttributionStage(study, store)
    return stage.run(), stage.stats


def _run_dissection(study: Study, store: ArtifactStore):
    from .dissect.stage import DissectionStage

    stage = DissectionStage(study, store)
    return stage.run(), stage.stats


STAGES: dict[str, tuple[Callable[[Study], bool], Callable]] = {
    "attribution": (lambda s: s.attribution.enabled, _run_attribution),
    "dissection": (lambda s: s.dissection.enabled, _run_dissection),
}


@dataclass
class BuildSummary:
    computed: int = 0
    reused: int = 0
    skipped: int = 0
    seconds: float = 0.0
    skipped_inputs: list[str] = field(default_factory=list)
    """One line per skipped input: the file and why (printed at the end of the build)."""

    def line(self) -> str:
        if self.computed == 0:
            head = f"nothing to compute: reused {self.reused} cached artifacts"
        else:
            head = f"computed {self.computed} artifacts, reused {self.reused}"
        skipped = f", skipped {self.skipped} inputs" if self.skipped else ""
        return f"{head}{skipped}, {self.seconds:.1f} s"


def _skip_line(skip: dict) -> str:
    from .text import printable  # a non-UTF-8 file name must not break the terminal

    file, reason = printable(skip.get("file", "")), printable(skip.get("reason", ""))
    return reason if reason.startswith(f"{file}: ") else f"{file}: {reason}"


def read_results(study: Study) -> dict:
    path = study.output_path / RESULTS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def read_timings(study: Study) -> dict:
    path = study.output_path / TIMINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def study_header(study: Study) -> dict:
    return {
        "title": study.title,
        "description": study.description,
        "seed": study.seed,
        "study_file": Path(study.source_file).name if study.source_file else "",
        "xai_report_version": __version__,
    }


def run_stages(study: Study, only: list[str] | None = None) -> BuildSummary:
    """Run the enabled stages (or ``only`` these), update ``results.json`` and ``timings.json``."""
    start = time.perf_counter()
    summary = BuildSummary()
    store = ArtifactStore(study.output_path / "store")
    with store.lock():
        results = read_results(study)
        timings = read_timings(study)
        results["study"] = study_header(study)
        for name, (enabled, run) in STAGES.items():
            if (only is not None and name not in only) or not enabled(study):
                if only is None:
                    results.pop(name, None)
                continue
            section, stats = run(study, store)
            results[name] = section
            timings[name] = {"stage_seconds": round(stats.seconds, 3), "items": stats.timings}
            summary.computed += stats.computed
            summary.reused += stats.reused
            summary.skipped += len(section.get("skipped", []))
            summary.skipped_inputs += [_skip_line(s) for s in section.get("skipped", [])]
        write_atomic(study.output_path / RESULTS_FILE, json.dumps(results, indent=2, sort_keys=False) + "\n")
        write_atomic(study.output_path / TIMINGS_FILE, json.dumps(timings, indent=2) + "\n")
    summary.seconds = time.perf_counter() - start
    return summary
