"""Where the product's own files live.

The templates, the site assets and the class and concept tables are package data: ``xai_report/package_data/``
holds them, read through :mod:`importlib.resources`, so a wheel installed anywhere finds them as a checkout does.
In the repository they stay where the design card puts them (``templates/``, ``site_src/javascripts``,
``site_src/stylesheets``, ``data/concepts``): ``package_data/`` holds symbolic links to those folders, and the
wheel build copies the files they point to (``[tool.setuptools.package-data]``). One lookup for both.

:data:`REPO_ROOT` is the checkout the package was imported from, when it is one: the demo studies and the probe
photos stay in the repository, and a wheel has neither.
"""

from importlib.resources import files
from pathlib import Path

PACKAGE_DATA = Path(str(files("xai_report") / "package_data"))
"""The package's data folder (a plain folder: the package is installed from a wheel or a checkout, not a zip)."""
TEMPLATES_DIR = PACKAGE_DATA / "templates"
"""The Jinja templates of the pages and of ``mkdocs.yml``."""
ASSETS_DIR = PACKAGE_DATA
"""The site's hand-written files (``stylesheets/extra.css``, ``javascripts/xai-report.js``), copied into a docs folder."""
CONCEPTS_DIR = PACKAGE_DATA / "concepts"
"""ImageNet and Places365 class names, the WordNet tables and the concept lists (``data/concepts`` in the repository)."""

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout above ``generator/`` (tests, benchmarks and the demo studies use it; in a wheel it is not one)."""
DATA_DIR = REPO_ROOT / "data"
"""The repository's data folder: probe photos, study images, annotations (not in the wheel)."""
STUDIES_DIR = REPO_ROOT / "studies"
"""The repository's demo studies (not in the wheel)."""
