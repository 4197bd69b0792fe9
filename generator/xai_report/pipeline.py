"""``build`` = every enabled stage, then the pages. The pipeline is a list of :class:`~xai_report.stage.Stage`
classes; each reads only the config and the artifact store and returns its section of ``results.json``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from .attribution.stage import AttributionStage
from pathlib import Path

from .config import load_study as load_config
from .config import Study
from .errors import ConfigError
from .models import LoadedModel
from .dissect.stage import DissectionStage
from .results import read_results, read_timings, study_header, write_results
from .stage import Stage
from .store import ArtifactStore
from .text import printable

STAGES: list[type[Stage]] = [AttributionStage, DissectionStage]


def check_study(study: Study) -> None:
    """Every stage's own checks of the study (its registries: methods and their parameters), before compute."""
    for stage_class in STAGES:
        try:
            stage_class.check(study)
        except ConfigError as exc:
            name = Path(study.source_file).name if study.source_file else ""
            raise ConfigError(f"{name}: {exc}" if name else str(exc)) from None


def load_study(path: str | Path | None = None) -> Study:
    """Read a study file and check it completely: the config's own checks (types, files, references), then each
    stage's (:func:`check_study`). What the CLI runs before any compute."""
    study = load_config(path)
    check_study(study)
    return study


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
    # a non-UTF-8 file name must not break the terminal
    file, reason = printable(skip.get("file", "")), printable(skip.get("reason", ""))
    return reason if reason.startswith(f"{file}: ") else f"{file}: {reason}"


def _stage(stage_class: type[Stage], study: Study, store: ArtifactStore, loaded: Mapping[str, LoadedModel]) -> Stage:
    """The stage, with the models given already loaded (the Python API's model objects) that it uses."""
    if stage_class is AttributionStage and study.attribution.model in loaded:
        return AttributionStage(study, store, model=loaded[study.attribution.model])
    if stage_class is DissectionStage and set(loaded) & set(study.dissection.models):
        return DissectionStage(study, store, models={k: loaded[k] for k in study.dissection.models if k in loaded})
    return stage_class(study, store)


def run_stages(study: Study, only: list[str] | None = None, engine: Any = None,
               loaded: Mapping[str, LoadedModel] | None = None) -> BuildSummary:
    """Run the enabled stages (or ``only`` these), update ``results.json`` and ``timings.json``. ``engine``: a
    :class:`~xai_report.cluster.DaskEngine` that runs the per-image work on its workers (None: in this process).
    ``loaded``: models by study key, given already loaded (:func:`xai_report.api.build`), used instead of loading."""
    start = time.perf_counter()
    summary = BuildSummary()
    store = ArtifactStore(study.output_path / "store")
    with store.lock():
        results = read_results(study)
        timings = read_timings(study)
        results["study"] = study_header(study)
        for stage_class in STAGES:
            name = stage_class.name
            if (only is not None and name not in only) or not stage_class.enabled(study):
                if only is None:
                    results.pop(name, None)
                continue
            stage = _stage(stage_class, study, store, loaded or {})
            stage.engine = engine
            section = stage.run()
            results[name] = section
            timings[name] = {"stage_seconds": round(stage.stats.seconds, 3), "items": stage.stats.timings}
            summary.computed += stage.stats.computed
            summary.reused += stage.stats.reused
            summary.skipped += len(section.get("skipped", []))
            summary.skipped_inputs += [_skip_line(s) for s in section.get("skipped", [])]
        write_results(study, results, timings)
    summary.seconds = time.perf_counter() - start
    return summary
