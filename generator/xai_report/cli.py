"""The ``xai-report`` command: build (all stages + pages), single stages, render alone."""

from __future__ import annotations

import os
import sys
import time
from functools import wraps
from pathlib import Path

import click

from .version import __version__
from .config import Study, load_study
from .errors import ConfigError, XaiReportError
from .memory import reexec_with_settings

STUDY_OPTION = click.option("--study", "study_file", type=click.Path(dir_okay=False), default=None,
                            help="Study file (TOML). Default: studies/default.toml in a checkout of the repository, "
                                 "else study.toml in the current folder.")
PROG_NAME = "xai-report"
"""The program's name in usage lines and errors, also after the malloc restart (which runs ``python -m``)."""


def _overrides(study: Study, offline: bool, device: str | None) -> Study:
    if offline:
        study.offline = True
    if device:
        study.device = device
        from .config import validate

        validate(study)
    return study


def _one_line_errors(func):
    """User errors print as one line on stderr with exit code 2; Ctrl-C exits 130 without a traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except XaiReportError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            # objects half-built when Ctrl-C landed (e.g. a CAM whose __init__ was cut short) complain in their
            # __del__ while the interpreter exits; the build already stopped cleanly, so keep the output to one line
            sys.unraisablehook = lambda unraisable: None
            click.echo("interrupted: finished artifacts are kept; run the same command again to continue", err=True)
            sys.exit(130)

    return wrapper


def _common(func):
    func = click.option("--device", default=None, help="auto (CUDA when present), cpu or cuda[:N].")(func)
    func = click.option("--offline", is_flag=True, help="Never download weights; fail with the file to provide.")(func)
    return STUDY_OPTION(func)


@click.group()
@click.version_option(version=__version__, prog_name=PROG_NAME, message="%(prog)s %(version)s")
def main() -> None:
    """Explain image classifiers and publish the findings as a MkDocs site."""


def _cluster(func):
    func = click.option("--scheduler", default=None, metavar="ADDRESS",
                        help="Run the per-image work (attribution, probe features) on a running Dask cluster, "
                             "e.g. tcp://HOST:8786.")(func)
    return click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Run the per-image work (attribution, probe features) on a local Dask cluster of N "
                             "worker processes.")(func)


def _run(study_file, offline, device, only, render_pages=True, workers=None, scheduler=None) -> None:
    from .pipeline import load_study, run_stages
    from .render.site import render_site

    study = _overrides(load_study(study_file), offline, device)
    if workers is None and scheduler is None:
        summary = run_stages(study, only=only)  # in this process: Dask is never imported
    else:
        from .cluster import connect

        with connect(workers, scheduler) as engine:
            summary = run_stages(study, only=only, engine=engine)
    if render_pages:
        pages = render_site(study)
        click.echo(f"wrote {pages} pages to {study.site_path}")
    click.echo(f"build: {summary.line()}")
    for line in summary.skipped_inputs:
        click.echo(f"skipped {line}")


@main.command()
@_common
@_cluster
@_one_line_errors
def build(study_file, offline, device, workers, scheduler) -> None:
    """Compute every enabled stage (cached) and render the site."""
    _run(study_file, offline, device, only=None, workers=workers, scheduler=scheduler)


@main.command()
@_common
@_cluster
@_one_line_errors
def attribute(study_file, offline, device, workers, scheduler) -> None:
    """Run the attribution stage only (predictions, CAMs, LIME, metrics)."""
    _run(study_file, offline, device, only=["attribution"], render_pages=False, workers=workers, scheduler=scheduler)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("scheduler")
@click.option("--nthreads", type=int, default=1, show_default=True, help="Tasks this worker runs at once.")
@click.argument("dask_args", nargs=-1, type=click.UNPROCESSED)
@_one_line_errors
def worker(scheduler, nthreads, dask_args) -> None:
    """Start a Dask worker for builds on the cluster at SCHEDULER (tcp://HOST:8786), with the malloc settings of
    the build; further arguments go to `dask worker` (e.g. --resources GPU=1)."""
    from .extras import require

    require("distributed", "cluster", "xai-report worker")
    os.execv(sys.executable, [sys.executable, "-m", "distributed.cli.dask_worker", scheduler,
                              "--nthreads", str(nthreads), *dask_args])


@main.command()
@_common
@_one_line_errors
def dissect(study_file, offline, device) -> None:
    """Run the CLIP-Dissect stage only."""
    _run(study_file, offline, device, only=["dissection"], render_pages=False)


@main.command()
@STUDY_OPTION
@_one_line_errors
def render(study_file) -> None:
    """Rebuild the pages from cached results, without computing anything."""
    from .render.site import render_site

    start = time.perf_counter()
    study = load_study(study_file)  # the config's checks: render computes nothing, so no stage is imported
    pages = render_site(study)
    click.echo(f"wrote {pages} pages to {study.site_path} in {time.perf_counter() - start:.1f} s")


@main.command()
@STUDY_OPTION
@_one_line_errors
def check(study_file) -> None:
    """Validate a study file without computing anything."""
    from .pipeline import load_study as load_checked

    study = load_checked(study_file)
    click.echo(f"{study.source_file}: ok ({study.title})")


@main.command()
@click.option("--source", "source", required=True, help="timm, huggingface, python or torchvision")
@click.option("--images", required=True, help="your image folder (ImageFolder layout or photos directly)")
@click.option("--name", default="", help="timm model name, Hugging Face folder or hub id, torchvision model")
@click.option("--file", "file", default="", help="a weight file (timm, python, torchvision)")
@click.option("--entry", default="", help='python source: "my_model.py:build" or "package.module:build"')
@click.option("--title", default="", help="the site's title")
@click.option("--out", "out", default="study.toml", show_default=True, help="the study file to write")
@_one_line_errors
def init(source, images, name, file, entry, title, out) -> None:
    """Write a commented study file for your model and image folder."""
    from .init import study_text

    path = Path(out)
    if path.exists():
        raise ConfigError(f"init: {path} exists; pass another --out or delete it")
    text = study_text(path, source, images, name=name, file=file, entry=entry, title=title)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}; next: xai-report check --study {path}")


def entry() -> None:
    """The console script: restart once with malloc settings that keep freed memory (:mod:`.memory`), then run."""
    reexec_with_settings("xai_report.cli")  # not __name__: run as ``python -m xai_report.cli`` that is __main__
    main(prog_name=PROG_NAME)


if __name__ == "__main__":
    entry()
