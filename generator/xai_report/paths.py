"""Where the product's own files live: the repository holds data/, templates/, studies/ and mkdocs.yml."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
TEMPLATES_DIR = REPO_ROOT / "templates"
STUDIES_DIR = REPO_ROOT / "studies"
