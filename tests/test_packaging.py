"""The package as pip installs it: the program's name and version, the optional extras and their one-line errors,
the package data read through importlib.resources (the wheel itself is checked by .ci/wheel_check.sh)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

import xai_report
from xai_report import extras, paths
from xai_report.paths import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xai_report.cli", *args], capture_output=True, text=True, timeout=120)


def test_the_program_is_named_xai_report_in_help_and_errors():
    assert cli("--help").stdout.startswith("Usage: xai-report [OPTIONS] COMMAND")
    assert cli("build", "--help").stdout.startswith("Usage: xai-report build [OPTIONS]")
    wrong = cli("build", "--no-such-option")
    assert wrong.returncode == 2 and wrong.stderr.startswith("Usage: xai-report build")


def test_version_is_the_packages_one_place():
    assert cli("--version").stdout.strip() == f"xai-report {xai_report.__version__}"
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "xai_report.version.__version__"}
    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]


def test_the_extras_named_in_messages_are_the_ones_pyproject_declares():
    declared = set(PYPROJECT["project"]["optional-dependencies"]) - {"dev"}
    assert declared == set(extras.EXTRAS)
    everything = PYPROJECT["project"]["optional-dependencies"]["all"]
    assert everything == [f"xai-report[{','.join(e for e in extras.EXTRAS if e != 'all')}]"]


def test_require_names_the_extra_to_install():
    assert extras.require("json", "hf").__name__ == "json"
    with pytest.raises(extras.MissingExtra) as caught:
        extras.require("no_such_library_xyz", "captum", "method integrated_gradients")
    assert str(caught.value) == ('method integrated_gradients needs no_such_library_xyz, which is not installed: '
                                 'pip install "xai-report[captum]"')
    with pytest.raises(ValueError, match="unknown extra"):
        extras.require("json", "no-such-extra")


def test_package_data_is_found_through_the_package():
    assert paths.PACKAGE_DATA.parent == paths.Path(xai_report.__file__).resolve().parent or \
        paths.PACKAGE_DATA.parent == paths.Path(xai_report.__file__).parent
    assert (paths.TEMPLATES_DIR / "mkdocs.yml.j2").is_file()
    assert (paths.ASSETS_DIR / "stylesheets" / "extra.css").is_file()
    assert (paths.ASSETS_DIR / "javascripts" / "xai-report.js").is_file()
    assert (paths.CONCEPTS_DIR / "LOC_synset_mapping.txt").is_file()
    # in a checkout the package's data are the repository's own folders, not copies
    for linked, folder in [(paths.TEMPLATES_DIR, "templates"), (paths.CONCEPTS_DIR, "data/concepts"),
                           (paths.ASSETS_DIR / "stylesheets", "site_src/stylesheets")]:
        assert linked.resolve() == (REPO_ROOT / folder).resolve()
    pattern = PYPROJECT["tool"]["setuptools"]["package-data"]["xai_report"]
    assert "package_data/*/*" in pattern


def test_unset_concept_tables_are_the_packaged_ones(tmp_path):
    from xai_report.config import load_study

    (tmp_path / "images").mkdir()
    study = tmp_path / "study.toml"
    study.write_text('[models.m]\nsource = "packaged"\n[attribution]\nmodel = "m"\nimages = "images"\n'
                     '[dissection]\nconcepts = "mine.txt"\n')
    (tmp_path / "mine.txt").write_text("dog\n")
    loaded = load_study(study)
    assert loaded.dissection.concepts == str(tmp_path / "mine.txt")  # set: the study's own
    assert loaded.dissection.wordnet_classes == str(paths.CONCEPTS_DIR / "imagenet_wordnet.csv")  # unset: packaged
