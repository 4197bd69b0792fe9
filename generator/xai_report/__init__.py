"""xai-report: explain image classifiers and publish the findings as a website.

The Python API (:mod:`xai_report.api`) is reached from here without importing torch when the package is imported:
``import xai_report as xr; xr.build(xr.Study.from_toml("study.toml"), model=net)``.
"""

from .version import __version__

__all__ = ["Report", "Study", "__version__", "build", "load_results"]

_API = ("Report", "Study", "build", "load_results")


def __getattr__(name: str):
    """The API's names, imported on first use (the CLI and the stages never pay for it)."""
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'xai_report' has no attribute {name!r}")
