"""Figures of the metrics (the "Which method to trust" page, the home page's verdict, the large studies' Findings):
matplotlib through :mod:`.plots` (Agg backend, fixed DPI, no timestamp: the same records give the same bytes).

Every figure of a score is direction-aware: an axis whose metric is better when lower is drawn reversed, so that
"better" always points right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from matplotlib.ticker import MaxNLocator

from ..records import MetricInfo
from ..records.dataset import Interval
from .plots import PALETTE, plt, png

FAMILIES = ["faithfulness", "robustness", "localisation", "complexity", "randomisation", "axiomatic"]
"""The order of the metric families (Quantus's six), others after them by name."""
COLUMNS = 3
"""Panels per row of the wide figures; the narrow screens' copy (:data:`NARROW`) has one panel a row."""
NARROW = 1


@dataclass(frozen=True)
class Panel:
    """One axis of a forest plot: its title, whether higher is better, and an interval per method (study order)."""

    title: str
    higher_is_better: bool
    rows: list[tuple[str, Optional[Interval]]]
    """(method title, its interval or None: not computed)."""
    percent: bool = False


def family_order(metrics: list[MetricInfo]) -> list[MetricInfo]:
    """The metrics grouped by family (:data:`FAMILIES` order), catalogue order within a family."""
    rank = {f: i for i, f in enumerate(FAMILIES)}
    return sorted(metrics, key=lambda m: (rank.get(m.family, len(FAMILIES)), m.family))


def _finite(x: Optional[float]) -> bool:
    return x is not None and math.isfinite(x)


def _grid(count: int, row_height: float, columns: int = COLUMNS):
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, row_height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _direction(ax, higher_is_better: bool, percent: bool = False) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(5))
    if not higher_is_better:
        ax.invert_xaxis()
    ax.set_xlabel(("higher" if higher_is_better else "lower") + " is better  \u2192" + (" (%)" if percent else ""),
                  fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def forest(panels: list[Panel], reference: Optional[float] = None, columns: int = COLUMNS) -> bytes:
    """One panel per entry: each method's mean as a dot with its interval as a bar (missing: "n/a" at the axis);
    ``reference``: a vertical line (e.g. 0 for a difference)."""
    height = 1.1 + 0.36 * max(len(p.rows) for p in panels)
    fig, axes = _grid(len(panels), height, columns)
    for ax, panel in zip(axes, panels):
        scale = 100.0 if panel.percent else 1.0
        labels = [title for title, _ in panel.rows]
        ys = list(range(len(labels)))[::-1]
        for i, (y, (_, s)) in enumerate(zip(ys, panel.rows)):
            colour = PALETTE(i % 10)
            if s is None or not _finite(s.mean):
                ax.text(0.02, y, "n/a", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="grey")
                continue
            if _finite(s.low) and _finite(s.high):
                ax.plot([s.low * scale, s.high * scale], [y, y], color=colour, linewidth=2.2, solid_capstyle="butt")
            ax.plot([s.mean * scale], [y], "o", color=colour, markersize=5)
        if reference is not None:
            ax.axvline(reference, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(ys, labels, fontsize=9)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_title(panel.title, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
        _direction(ax, panel.higher_is_better, panel.percent)
    fig.tight_layout()
    return png(fig)


def standing(metrics: list[MetricInfo], methods: list[tuple[str, str]],
             cells: dict[str, dict[str, Interval]], columns: int = COLUMNS) -> bytes:
    """Each method's mean and interval on each metric, the metrics grouped by family (the verdict as a picture)."""
    panels = [Panel(f"{m.family.capitalize()}: {m.title}", m.higher_is_better,
                    [(title, cells.get(m.name, {}).get(name)) for name, title in methods])
              for m in family_order(metrics)]
    return forest(panels, columns=columns)


def sanity(rows: list[tuple[str, Interval, bool]]) -> bytes:
    """Each metric's trained-minus-randomised difference (oriented: positive is better) with its interval; a
    flagged metric (its interval does not lie above 0) is drawn red with a cross."""
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.35 * len(rows)))
    ys = list(range(len(rows)))[::-1]
    for y, (_, s, flagged) in zip(ys, rows):
        colour, marker = ("tab:red", "X") if flagged else ("tab:blue", "o")
        if not _finite(s.mean):
            ax.text(0.02, y, "n/a", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="grey")
            continue
        if _finite(s.low) and _finite(s.high):
            ax.plot([s.low, s.high], [y, y], color=colour, linewidth=2.2)
        ax.plot([s.mean], [y], marker, color=colour, markersize=6)
    ax.axvline(0, color="grey", linestyle=":", linewidth=1)
    ax.set_yticks(ys, [f"{t} (flagged)" if f else t for t, _, f in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("trained minus randomised, oriented: the trained model's maps score better  \u2192", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return png(fig)


def curves(per_method: dict[str, dict[str, list[Optional[float]]]], metric_titles: dict[str, str]) -> bytes:
    """One panel per method (its title -> metric -> mean curve): each curve metric's value against the step."""
    fig, axes = _grid(len(per_method), 2.8)
    names = list(metric_titles)
    for ax, (title, found) in zip(axes, per_method.items()):
        for metric, values in found.items():
            points = [(i, v) for i, v in enumerate(values) if _finite(v)]
            colour = PALETTE(names.index(metric) % 10 if metric in names else 0)
            ax.plot([i for i, _ in points], [v for _, v in points], "o-", color=colour, markersize=3,
                    label=metric_titles.get(metric, metric))
        ax.set_title(title, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("layers randomised, top to bottom", fontsize=8)
        ax.set_ylabel("similarity to the trained map", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return png(fig)


def distributions(panels: list[tuple[str, bool, dict[str, list[float]]]], columns: int = COLUMNS) -> bytes:
    """One panel per metric (title, higher is better, method title -> its finite per-image values): a box per
    method (median, quartiles, 1.5 IQR whiskers, outliers as small dots)."""
    height = 1.1 + 0.36 * max(len(values) for _, _, values in panels)
    fig, axes = _grid(len(panels), height, columns)
    for ax, (title, higher, values) in zip(axes, panels):
        labels = list(values)
        data = [values[k] if values[k] else [float("nan")] for k in labels]
        parts = ax.boxplot(data[::-1], orientation="horizontal", widths=0.6, patch_artist=True,
                           flierprops={"markersize": 2, "alpha": 0.4})
        for i, patch in enumerate(parts["boxes"][::-1]):
            patch.set_facecolor(PALETTE(i % 10))
            patch.set_alpha(0.6)
        for y, k in enumerate(labels[::-1], start=1):
            if not values[k]:
                ax.text(0.02, y, "n/a", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="grey")
        ax.set_yticks(range(1, len(labels) + 1), labels[::-1], fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        _direction(ax, higher)
    fig.tight_layout()
    return png(fig)
