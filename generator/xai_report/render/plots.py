"""Figures for the pages (matplotlib, Agg backend), returned as PNG bytes.

PNGs are written without a timestamp, so the same results give byte-identical figures.
"""

from __future__ import annotations

import io

import matplotlib

from ..records import ConfidencePoint, Faithfulness

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

PALETTE = plt.get_cmap("tab10")
matplotlib.rcParams["text.parse_math"] = False  # a "$" in a title is text, never mathtext


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def curves(faithfulness: Faithfulness, titles: dict[str, str]) -> bytes:
    """Deletion and insertion curves of every method on one image, with the random baseline's AUCs."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    x = faithfulness.fractions
    rand = faithfulness.random
    for i, (name, res) in enumerate(faithfulness.methods.items()):
        colour = PALETTE(i % 10)
        axes[0].plot(x, res.deletion_curve, color=colour, label=f"{titles.get(name, name)} ({res.deletion_auc:.3f})")
        axes[1].plot(x, res.insertion_curve, color=colour, label=f"{titles.get(name, name)} ({res.insertion_auc:.3f})")
    for ax, kind in zip(axes, ("deletion", "insertion")):
        auc = rand.deletion_auc if kind == "deletion" else rand.insertion_auc
        ax.axhline(auc, color="grey", linestyle=":", linewidth=1, label=f"random map AUC ({auc:.3f})")
        ax.set_title(f"{kind.capitalize()} ({'lower' if kind == 'deletion' else 'higher'} AUC is better)")
        ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'revealed'}")
        ax.legend(fontsize=7, frameon=False)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability of the explained class")
    return png(fig)


def agreement_matrix(matrix: dict[str, dict[str, float | None]], titles: dict[str, str],
                     label: str = "mean Spearman rho") -> bytes:
    """A symmetric matrix of correlations in [-1, 1] as a heatmap with its values written in ("n/a": none)."""
    names = list(matrix)
    values = [[matrix[a][b] if matrix[a][b] is not None else float("nan") for b in names] for a in names]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names), 1.0 + 0.8 * len(names)))
    image = ax.imshow(values, vmin=-1, vmax=1, cmap="RdBu_r")
    labels = [titles.get(n, n) for n in names]
    ax.set_xticks(range(len(names)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(names)), labels)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            colour = "white" if v == v and abs(v) > 0.5 else "black"  # stay readable on dark cells
            ax.text(j, i, "n/a" if v != v else f"{v:.2f}", ha="center", va="center", fontsize=8, color=colour)
    fig.colorbar(image, ax=ax, label=label)
    return png(fig)


def confidence_scatter(points: list[ConfidencePoint], rho: float | None) -> bytes:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.scatter([p.confidence for p in points], [p.agreement for p in points], color=PALETTE(0))
    for p in points:
        ax.annotate(p.title, (p.confidence, p.agreement), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("model's probability for the explained class")
    ax.set_ylabel("mean CAM-LIME agreement (Spearman)")
    ax.set_title("Agreement vs confidence" + (f" (rho = {rho:.2f})" if rho is not None else ""))
    ax.grid(alpha=0.3)
    return png(fig)


def bar_counts(labels: list[str], counts: list[int], title: str, xlabel: str = "neurons") -> bytes:
    """A horizontal bar chart (most frequent at the top), e.g. a concept histogram."""
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(labels) + 1))
    ax.barh(range(len(labels))[::-1], counts, color=PALETTE(0))
    ax.set_yticks(range(len(labels))[::-1], labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return png(fig)
