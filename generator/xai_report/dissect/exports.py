"""The dissection's raw files per model: the reference code's CSV (``layer,unit,description,similarity``), a
detailed CSV (top-5 with scores, flags, category, importance, strip) and the fc self-check's CSV."""

from __future__ import annotations

import csv
import io
from typing import Callable

from .labelling import LABELS_K


def _csv(header: list[str], lines: list[list]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buf.getvalue().encode("utf-8")


def labels_csv(rows: list[dict]) -> bytes:
    """The reference code's columns: one line per neuron with its label and score."""
    return _csv(["layer", "unit", "description", "similarity"],
                [[r["layer"], r["unit"], r["label"], r["similarity"]] for r in rows])


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def detailed_csv(rows: list[dict]) -> bytes:
    """Per neuron: the five best concepts with scores, the tests its label passed (``semantic``: all of them),
    and the rest of its row."""
    header = ["layer", "unit"]
    for i in range(1, LABELS_K + 1):
        header += [f"concept_{i}", f"score_{i}"]
    header += ["mean_activation", "semantic", "above_shuffle_null", "above_randomised_null", "dead", "category",
               "importance", "importance_kind", "importance_rank", "strip"]
    lines = []
    for r in rows:
        ranked = [[r["label"], r["similarity"]]] + r["runners_up"]
        ranked += [["", ""]] * (LABELS_K - len(ranked))
        line = [r["layer"], r["unit"]] + [x for pair in ranked for x in pair]
        passes = r.get("passes", {})
        line += [r["mean_activation"]] + [_yes_no(v) for v in (r["semantic"], passes.get("shuffle"), passes.get("random"),
                                                               r["dead"])]
        line += [r["category"], r["importance"], r["importance_kind"], r["rank"], r["strip"]]
        lines.append(line)
    return _csv(header, lines)


def self_check_csv(check: dict) -> bytes:
    header = ["layer", "unit", "class", "label", "top5", "rank_of_class"]
    lines = [[check["layer"], u["unit"], u["class"], u["label"], "; ".join(u["top5"]), u["rank"] or ""]
             for u in check["units"]]
    if "class_or_ancestor" in check:  # the labels source: was the label the class or one of its ancestors?
        header.append("class_or_ancestor")
        lines = [line + ["yes" if u["class_or_ancestor"] else "no"] for line, u in zip(lines, check["units"])]
    return _csv(header, lines)


def write_csvs(export: Callable[[str, bytes], str], slug: str, rows: list[dict], check: dict | None) -> dict[str, str]:
    """Export one model's CSVs to ``dissection/<slug>*.csv`` with ``export(relative path, bytes)`` (an artifact
    cache's); their paths relative to the output folder."""
    files = {"csv": export(f"dissection/{slug}.csv", labels_csv(rows)),
             "detailed_csv": export(f"dissection/{slug}_detailed.csv", detailed_csv(rows))}
    if check:
        files["self_check_csv"] = export(f"dissection/{slug}_fc_self_check.csv", self_check_csv(check))
    return files
