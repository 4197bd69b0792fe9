"""Sentences about the attribution results, made from the numbers in ``results.json``.

The stage writes numbers only; the home page's headlines and the comparison page's verdict on the original
study's claim ("methods agree on clear images, diverge on ambiguous ones") are worded here.
"""

from __future__ import annotations

from ..records import AttributionSection, ConfidenceVsAgreement, RandomisedSummary
from ..records.scores import MetricInfo, RankedInterval, Sanity

SIGNIFICANCE = 0.05
"""p-value below which a positive confidence-agreement correlation "supports" the claim."""
DEFAULT_REGION_TITLE = "LIME"
"""The region-level method the original study's claim names, for the verdict when no study method has regions."""


def region_title(section: AttributionSection) -> str:
    """The title of the method the confidence-agreement test measures agreement with (the first with regions)."""
    regional = section.region_methods()
    return section.titles()[regional[0]] if regional else DEFAULT_REGION_TITLE


def verdict(cva: ConfidenceVsAgreement, region: str = DEFAULT_REGION_TITLE) -> str:
    """What the confidence-agreement correlation (``comparison.confidence_vs_agreement``) says of the claim."""
    rho, p, n = cva.spearman, cva.p_value, cva.n
    if rho is None:
        return f"too few images with both {region} and a CAM to test the claim"
    strength = "supports" if rho > 0 and p < SIGNIFICANCE else ("leans towards" if rho > 0 else "does not support")
    return (f"across {n} images, CAM-{region} agreement and the model's confidence have Spearman rho = {rho:.2f} "
            f"(p = {p:.2f}): our data {strength} the study's claim that methods agree more on clear images")


def headlines(section: AttributionSection | None) -> list[str]:
    """One-line findings for the home page (none without a comparison)."""
    comp = section.comparison if section else None
    if not comp:
        return []
    titles = section.titles()
    lines = []
    rows = [r for r in comp.methods if r.deletion_auc.mean is not None]
    if rows:
        best = min(rows, key=lambda r: r.deletion_auc.mean)
        lines.append(
            f"Most faithful by deletion AUC (lower is better): {titles[best.method]} "
            f"({best.deletion_auc.mean:.3f} on average); it beats a smooth random map on "
            f"{best.beats_random_deletion} of {best.images} images."
        )
        for r in rows:
            if r.beats_random_deletion * 2 < r.images:
                lines.append(f"{titles[r.method]} deletes slower than a random map on most images "
                             f"({r.images - r.beats_random_deletion} of {r.images}).")
    cva = comp.confidence_vs_agreement
    if cva.spearman is not None:
        lines.append("Simple vs ambiguous images: " + verdict(cva, region_title(section)) + ".")
    sanity = randomised_line(section.randomised, titles)
    if sanity:
        lines.append(sanity)
    return lines


def randomised_line(found: dict[str, RandomisedSummary] | None, titles: dict[str, str]) -> str:
    """The model-randomisation check in one sentence: each method's mean rank correlation between its maps for the
    trained model and for a re-initialised copy (near 0: the map depends on what the model learned)."""
    if not found:
        return ""
    parts = []
    for method, s in found.items():
        if s.mean is None:
            parts.append(f"{titles.get(method, method)} constant maps on every image")
        else:
            parts.append(f"{titles.get(method, method)} {s.mean:.2f}"
                         + (f" ({s.ranked} of {s.images} images; the others gave a constant map)"
                            if s.ranked < s.images else ""))
    return ("Sanity check (Adebayo et al., NeurIPS 2018), mean rank correlation between each method's maps for the "
            "trained model and for a copy with re-initialised weights (near 0: the map depends on what the model "
            "learned): " + "; ".join(parts) + ".")


def tau_aggregation(aggregation: str) -> str:
    """How the metric-agreement matrix was made, for the trust page."""
    return (f"Kendall's tau between the rankings of the methods that two metrics give on one image (1: the same order, "
            f"-1: the reverse), {aggregation}; each metric's values are oriented so that higher is better first.")


def sanity_verdict(sanity: list[Sanity], titles: dict[str, str]) -> str:
    """Which metrics cannot tell the trained model's maps from the randomised twin's."""
    if not sanity:
        return "No randomised twin was explained (attribution.randomised_methods), so no metric's sanity was tested."
    flagged = [titles.get(s.metric, s.metric) for s in sanity if s.flagged]
    if not flagged:
        return "Every metric scores the trained model's maps better than the randomised twin's."
    return (f"{', '.join(flagged)} cannot tell the trained model's maps from the randomised twin's (the interval of "
            f"the difference does not lie above 0): read {'its' if len(flagged) == 1 else 'their'} ranking with care.")


def family_leaders(metrics: list[MetricInfo], cells: dict[str, dict[str, RankedInterval]],
                   titles: dict[str, str]) -> list[str]:
    """Per metric family (in ``metrics`` order), the methods ranked first on the most of its metrics (ranks tie
    where intervals overlap), e.g. "Faithfulness (2 metrics): Grad-CAM ranks first on 2 of 2"."""
    families: dict[str, list[MetricInfo]] = {}
    for m in metrics:
        families.setdefault(m.family, []).append(m)
    lines = []
    for family, members in families.items():
        firsts = {method: sum(1 for m in members if _rank(cells, m.name, method) == 1)
                  for method in titles}
        best = max(firsts.values(), default=0)
        names = ", ".join(m.title for m in members)
        if best == 0:
            lines.append(f"{family.capitalize()} ({names}): no method has a rank")
            continue
        leaders = [titles[k] for k, v in firsts.items() if v == best]
        lines.append(f"{family.capitalize()} ({names}): {_and(leaders)} {'ranks' if len(leaders) == 1 else 'rank'} "
                     f"first on {best} of {len(members)}")
    return lines


def _rank(cells: dict[str, dict[str, RankedInterval]], metric: str, method: str) -> int | None:
    cell = cells.get(metric, {}).get(method)
    return cell.rank if cell is not None else None


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
