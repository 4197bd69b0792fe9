"""xai-report: explain image classifiers and publish the findings as a website."""

__version__ = "0.1.0"
