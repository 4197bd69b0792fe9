"""The package's version: the one place that holds it (``pyproject.toml`` reads it, ``xai-report --version`` and
``results.json`` print it)."""

__version__ = "0.1.0"
