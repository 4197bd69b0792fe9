"""The results files: ``results.json`` (what the stages found, numbers only), its JSON Schema
``results.schema.json``, and ``timings.json``.

All live in the study's output folder. The stages write them (through :func:`write_results`), render reads
them (:func:`load_results`); neither side imports the other, both stand on the typed records of
:mod:`xai_report.records`. ``results.json`` holds its ``schema_version``, ``study`` (the study's title,
description, seed and file name) and, per stage, its section (see the README's "Raw results"). Compute seconds
go to ``timings.json`` instead, so two builds of the same study and inputs give byte-identical ``results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from .version import __version__
from .config import Study
from .errors import XaiReportError
from .records import SCHEMA_VERSION, Results
from .store import write_atomic

RESULTS_FILE = "results.json"
SCHEMA_FILE = "results.schema.json"
TIMINGS_FILE = "timings.json"


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_results(study: Study) -> dict:
    """The study's ``results.json`` as plain JSON: the sections a build keeps when it runs only some stages. {}
    before the first build, and when the file follows another schema version (its sections would not fit the
    records; the build writes the sections it runs, and another ``build`` the rest)."""
    found = _read(study.output_path / RESULTS_FILE)
    return found if found.get("schema_version") == SCHEMA_VERSION else {}


def load_results(study: Study) -> Results | None:
    """The study's ``results.json`` as typed records (None before the first build); XaiReportError naming the
    file and the first field that does not fit when it follows another schema version."""
    path = study.output_path / RESULTS_FILE
    return read_results_file(path) if path.is_file() else None


def read_results_file(path: Path) -> Results:
    """A ``results.json`` as typed records; XaiReportError (one line) when it is missing, not JSON, or follows
    another schema version."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise XaiReportError(f"{path}: no such file; give a build's results.json or its output folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise XaiReportError(f"{path}: not a results.json ({type(exc).__name__}); give a build's results.json") from None
    if not isinstance(found, dict):
        raise XaiReportError(f"{path}: not a results.json (a JSON {type(found).__name__}, not an object)")
    version = found.get("schema_version")  # json, not pydantic's parser: it refuses the lone surrogate escape of a
    # non-UTF-8 file name, which is valid JSON
    if version != SCHEMA_VERSION:
        raise XaiReportError(f"{path}: schema_version {version} (this xai-report reads {SCHEMA_VERSION}); "
                             "run xai-report build to rewrite it")
    try:
        return Results.model_validate(found)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise XaiReportError(f"{path}: {where}: {first['msg']} (not results.json schema version {SCHEMA_VERSION}); "
                             "run xai-report build to rewrite it") from None


def read_timings(study: Study) -> dict:
    """The study's ``timings.json`` ({} before the first build)."""
    return _read(study.output_path / TIMINGS_FILE)


def typed(results: dict) -> Results:
    """``results`` (the stages' sections) as the typed records, checked to hold exactly the same JSON: a key the
    records do not declare, a missing or mistyped one, or a number they would change raises (a bug in a stage)."""
    record = Results.model_validate(results)
    given = {k: v for k, v in results.items() if k != "schema_version"}
    dumped = {k: v for k, v in record.dump().items() if k != "schema_version"}
    if json.dumps(dumped, sort_keys=True) != json.dumps(given, sort_keys=True):
        raise ValueError(f"results.json: the records change a value: {_first_difference(given, dumped)}")
    return record


def _first_difference(a: object, b: object, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}: only in the {'records' if key in b else 'stage section'}"
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return ""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _first_difference(x, y, f"{path}[{i}]"))), "")
    return "" if json.dumps(a) == json.dumps(b) else f"{path}: {json.dumps(a)[:80]} becomes {json.dumps(b)[:80]}"


def write_results(study: Study, results: dict, timings: dict) -> None:
    """Check ``results`` against the records (:func:`typed`), then write ``results.json``, ``results.schema.json``
    and ``timings.json`` atomically (a killed build leaves the previous ones whole)."""
    text = typed(results).text()
    write_atomic(study.output_path / SCHEMA_FILE, schema_text())
    write_atomic(study.output_path / RESULTS_FILE, text)
    write_atomic(study.output_path / TIMINGS_FILE, json.dumps(timings, indent=2) + "\n")


def schema_text() -> str:
    """``results.schema.json``: the JSON Schema of ``results.json``."""
    return json.dumps(Results.json_schema(), indent=2) + "\n"


def study_header(study: Study) -> dict:
    """The ``study`` section: what identifies the study on every page."""
    return {
        "title": study.title,
        "description": study.description,
        "seed": study.seed,
        "study_file": Path(study.source_file).name if study.source_file else "",
        "xai_report_version": __version__,
    }
