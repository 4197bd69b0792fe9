"""Write the measured-speed section of the README from the benchmark's own JSON results.

    python benchmarks/table.py [--check]

Reads every ``benchmarks/results/*.json`` (written by ``bench.py --json``), renders them with the same
template as the site's methodology page, and replaces the README's text between the two
``<!-- benchmark-table -->`` markers. ``--check`` changes nothing and exits 1 if the README is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))  # run from a checkout without installing

from xai_report.render.benchmarks import benchmark_markdown, load_runs  # noqa: E402

README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "results"
START, END = "<!-- benchmark-table:start -->", "<!-- benchmark-table:end -->"


def updated_readme(readme: str, section: str) -> str:
    """``readme`` with the text between the markers replaced by ``section``."""
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise SystemExit(f"{README}: needs one {START} line followed by one {END} line")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{section.strip()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's section is out of date")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    new = updated_readme(readme, benchmark_markdown(load_runs(RESULTS)))
    if args.check:
        if new != readme:
            print(f"{README}: the benchmark section is out of date; run python benchmarks/table.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
