"""The results files: ``results.json`` (what the stages found, numbers only) and ``timings.json``.

Both live in the study's output folder. The stages write them (through :func:`write_results`), render reads
them; neither side imports the other. ``results.json`` holds, per stage, its section (see the README's "Raw
results"), plus ``study``: the study's title, description, seed and file name. Compute seconds go to
``timings.json`` instead, so two builds of the same study and inputs give byte-identical ``results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import __version__
from .config import Study
from .store import write_atomic

RESULTS_FILE = "results.json"
TIMINGS_FILE = "timings.json"


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_results(study: Study) -> dict:
    """The study's ``results.json`` ({} before the first build)."""
    return _read(study.output_path / RESULTS_FILE)


def read_timings(study: Study) -> dict:
    """The study's ``timings.json`` ({} before the first build)."""
    return _read(study.output_path / TIMINGS_FILE)


def write_results(study: Study, results: dict, timings: dict) -> None:
    """Write both files atomically (a killed build leaves the previous ones whole)."""
    write_atomic(study.output_path / RESULTS_FILE, json.dumps(results, indent=2, sort_keys=False) + "\n")
    write_atomic(study.output_path / TIMINGS_FILE, json.dumps(timings, indent=2) + "\n")


def study_header(study: Study) -> dict:
    """The ``study`` section: what identifies the study on every page."""
    return {
        "title": study.title,
        "description": study.description,
        "seed": study.seed,
        "study_file": Path(study.source_file).name if study.source_file else "",
        "xai_report_version": __version__,
    }
