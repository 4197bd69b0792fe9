"""The Python API, for notebooks: a study from a file or from code, a build with a model object held in memory,
and the typed results of any build.

    import xai_report as xr
    study = xr.Study.from_toml("study.toml")          # or xr.Study.from_dict({...}): the same checks
    report = xr.build(study, model=net, preprocess=transform, class_names=names)
    report.results.attribution.images[0].prediction   # typed records (xai_report.records), not dicts
    report.site_dir                                   # the pages; report.serve() or `mkdocs serve -f` them
    xr.load_results("output/results.json")            # any build's results, without the site

A model object is named in the study as ``[models.<key>] source = "memory"`` (the study file says where its model
comes from); :func:`build` gives it the object, keyed in the cache by its weights and preprocessing
(:mod:`xai_report.models.sources.memory`). Every check and every one-line error is the command line's.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from torch import nn

from .config import Study as StudyTables
from .config import load_study, study_from_tables
from .errors import ConfigError
from .models.sources.memory import PreprocessGiven, loaded_from
from .pipeline import BuildSummary, check_study, run_stages
from .records import Results
from .render.site import render_site
from .results import RESULTS_FILE, read_results_file

IN_CODE = "study.toml"
"""The name a study built in code gets in messages and pages (relative paths resolve against its ``base_dir``)."""


class Study(StudyTables):
    """A study, as the study file's tables give it (:class:`xai_report.config.Study`), read or built with every
    check the command line makes (the config's and each stage's), failing in one line."""

    @classmethod
    def from_toml(cls, path: str | Path) -> "Study":
        """The study file at ``path``, checked as ``xai-report check`` checks it."""
        study = load_study(path, kind=cls)
        check_study(study)
        return study

    @classmethod
    def from_dict(cls, tables: Mapping, base_dir: str | Path = ".") -> "Study":
        """A study built in code from the study file's tables (``{"title": ..., "models": {...}, "attribution":
        {...}}``), checked as a file in ``base_dir`` would be (its relative paths resolve against it)."""
        study = study_from_tables(dict(tables), Path(base_dir) / IN_CODE, kind=cls)
        check_study(study)
        return study


@dataclass
class Report:
    """What :func:`build` made: the typed results and where the pages are."""

    study: StudyTables
    results: Results
    summary: BuildSummary
    pages: int

    @property
    def site_dir(self) -> Path:
        """The docs folder of the generated pages (MkDocs' ``docs_dir``)."""
        return self.study.site_path

    @property
    def output_dir(self) -> Path:
        """The artifacts, ``results.json`` and the raw maps."""
        return self.study.output_path

    @property
    def mkdocs_yml(self) -> Path:
        """The ``mkdocs.yml`` written beside the docs folder."""
        return self.site_dir.parent / "mkdocs.yml"

    def serve(self, address: str = "127.0.0.1:8000") -> subprocess.Popen:
        """Start ``mkdocs serve`` on the pages in the background; returns the process (``.terminate()`` it)."""
        return subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "-f", str(self.mkdocs_yml), "-a", address])


def _memory_key(study: StudyTables) -> str:
    """The study's model key whose source is ``memory`` (the one :func:`build` gives the object to)."""
    keys = [key for key, spec in study.models.items() if spec.source == "memory"]
    if study.attribution.enabled and study.models.get(study.attribution.model) is not None \
            and study.models[study.attribution.model].source == "memory":
        return study.attribution.model
    if len(keys) != 1:
        raise ConfigError(f"model: the study names {len(keys)} models with source = \"memory\" "
                          f"({', '.join(keys) or 'none'}); name exactly one to give a model object to")
    return keys[0]


def build(study: Study | str | Path, model: nn.Module | None = None, preprocess: PreprocessGiven = None,
          class_names: Sequence[str] | None = None, *, layer_default: str = "", render: bool = True,
          only: list[str] | None = None) -> Report:
    """Compute the study's stages (cached) with ``model`` as its ``source = "memory"`` model, render the pages
    (``render``), and return the :class:`Report`.

    ``preprocess``: a transform (PIL image -> 3xHxW tensor) applied as given, a
    :class:`~xai_report.models.Preprocess`, a study-style table (``{"resize": 256, "crop": 224}``) or None (the
    common ImageNet preprocessing). ``class_names``: one per output (default: ImageNet's for 1000 outputs).
    ``layer_default``: the CAM layer when the study names none (timm models get their family's)."""
    if not isinstance(study, StudyTables):
        study = Study.from_toml(study)
    loaded = {}
    memory = [key for key, spec in study.models.items() if spec.source == "memory"]
    if model is not None:
        loaded[_memory_key(study)] = loaded_from(model, preprocess, class_names, default_layer=layer_default)
    elif memory:
        raise ConfigError(f"models.{memory[0]}: source = \"memory\" needs its model object: build(study, model=...)")
    summary = run_stages(study, only=only, loaded=loaded)
    pages = render_site(study) if render else 0
    return Report(study, read_results_file(study.output_path / RESULTS_FILE), summary, pages)


def load_results(path: str | Path) -> Results:
    """The typed records of a build's ``results.json`` (the file, or the output folder holding it); one-line
    :class:`~xai_report.errors.XaiReportError` when it follows another schema version."""
    path = Path(path)
    return read_results_file(path / RESULTS_FILE if path.is_dir() else path)


__all__ = ["Report", "Study", "build", "load_results"]
