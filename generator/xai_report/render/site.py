"""Render ``results.json`` into Markdown pages (the MkDocs ``docs_dir``) through the Jinja templates.

Pages are a registry too: each entry turns the results into (path, template, context) triples. Only
files this renderer wrote are ever replaced or removed; hand-written files in the docs folder stay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from ..config import Study
from ..paths import TEMPLATES_DIR
from ..records import AttributionSection, ImageRecord, Results
from ..results import RESULTS_FILE, load_results, read_timings
from ..fingerprint import library_version
from ..store import write_atomic, write_if_changed
from . import attribution_text, findings_page, links, neurons, plots, scale_site, trust_page
from .claims import claim_verdicts, claims_pages
from .benchmarks import load_runs
from .dissection_pages import dissection_pages
from .dissection_text import headlines as dissection_headlines
from .markdown import Safe, environment
from .pages import Asset, Page
from .publish import copy_assets, ensure_mkdocs_yml

MANIFEST = ".xai-generated.json"
FIGURES_KEY = ".xai-figures-key"
LIBRARIES = ["torch", "torchvision", "grad-cam", "lime", "open_clip_torch", "timm", "numpy", "scikit-image",
             "mkdocs", "mkdocs-material", "xai-report"]


class MethodCost(NamedTuple):
    """A method's mean compute seconds per image (None: not measured) over ``n`` measured images."""

    mean: float | None
    n: int


def method_costs(timings: dict, methods: list[str], images: list[str] | None = None) -> dict[str, MethodCost]:
    """Each method's mean compute seconds per image, from ``timings.json``, over ``images`` (default: every image
    timed)."""
    items = (timings.get("attribution") or {}).get("items") or {}
    timed = [items[i] for i in images if i in items] if images is not None else list(items.values())
    costs = {}
    for m in methods:
        values = [per[m] for per in timed if m in per]
        costs[m] = MethodCost(sum(values) / len(values) if values else None, len(values))
    return costs


def mean_seconds(timings: dict, methods: list[str]) -> dict[str, float | None]:
    """Mean compute seconds per method over the images, from ``timings.json`` (None: not measured)."""
    return {m: cost.mean for m, cost in method_costs(timings, methods).items()}


def library_versions() -> dict[str, str]:
    """The versions shown on the methodology page, in :data:`LIBRARIES` order."""
    return {name: library_version(name) for name in LIBRARIES}


def _attribution_pages(results: Results, timings: dict) -> Iterator[Page]:
    section = results.attribution
    if not section:
        return
    images = section.images
    methods = section.methods
    titles = section.titles()
    common = {"att": section, "methods": methods, "families": section.families(), "images": images, "titles": titles,
              "regions": section.region_methods(),
              "neuron_page": links.layer_page(results, section.model.key, section.model.layer),
              "large": scale_site.is_large(section), "thumb": scale_site.thumb_path, "thumb_px": scale_site.THUMB_PX,
              "archive": scale_site.archive_path}
    yield Page("attribution/index.md", "attribution_index.md.j2", common)
    if common["large"]:
        yield from scale_site.pages(common)  # paginated gallery with thumbnails, and the index of all images
    else:
        yield Page("attribution/gallery.md", "gallery.md.j2", common)
    yield from findings_page.pages(section, common)
    comp = section.comparison
    if comp:
        yield Asset("assets/figures/agreement_matrix.png", lambda: plots.agreement_matrix(comp.agreement_matrix, titles))
        cva = comp.confidence_vs_agreement
        if cva.points:
            yield Asset("assets/figures/confidence_vs_agreement.png",
                        lambda: plots.confidence_scatter(cva.points, cva.spearman))
        yield Page("attribution/comparison.md", "comparison.md.j2",
                   {**common, "comp": comp, "seconds": mean_seconds(timings, [m.name for m in methods]),
                    "verdict": attribution_text.verdict(cva, attribution_text.region_title(section))})
    labels = neurons.unit_labels(results, section.model.key, section.model.layer)
    ancestors = neurons.concept_ancestors(results)
    for i, record in enumerate(images):
        neighbours = {"prev": images[i - 1] if i > 0 else None, "next": images[i + 1] if i + 1 < len(images) else None}
        if record.metrics is not None:
            faith = record.metrics.faithfulness
            yield Asset(f"assets/figures/{record.id}_curves.png", lambda faith=faith: plots.curves(faith, titles))
        yield Page(f"attribution/images/{record.id}.md", "image.md.j2", {**common, "img": record, **neighbours,
                   **_neuron_context(record, labels, ancestors), "score_metrics": section.metric_catalogue or [],
                   "score_table": trust_page.image_scores(record.scores, section.metric_catalogue or [])})
    yield from trust_page.pages(section, common)


def _neuron_context(record: ImageRecord, labels: dict[int, neurons.UnitLabel], ancestors: dict[str, list[str]]) -> dict:
    """What the image page's "neurons behind this prediction" section shows besides the record's numbers."""
    found = record.neurons
    if found.absent is not None:
        return {"neurons": found, "unit_labels": {}, "neuron_coverage": "", "concept_groups": [],
                "concept_sentence": ""}
    groups = neurons.concept_evidence(found, labels, ancestors)
    return {"neurons": found, "unit_labels": labels, "neuron_coverage": neurons.coverage(found),
            "concept_groups": groups, "concept_sentence": neurons.evidence_sentence(groups, record.target.name)}


def _summary_pages(results: Results, timings: dict) -> Iterator[Page]:
    section = results.attribution
    yield Page("index.md", "home.md.j2", {"dissection_headlines": dissection_headlines(results.dissection),
                                          "attribution_headlines": attribution_text.headlines(section),
                                          "trust": trust_page.view(section) if section and section.trust else None})
    costs = method_costs(timings, [m.name for m in section.methods], [r.id for r in section.images]) if section else {}
    yield Page("methodology/index.md", "methodology.md.j2", {"compute_seconds": _compute_seconds(section, timings),
                                                             "method_seconds": costs, "versions": library_versions()})


def _compute_seconds(section: AttributionSection | None, timings: dict) -> dict[str, dict[str, float | None]]:
    """Seconds per image and method as measured when each artifact was computed (``timings.json``; None where
    it has none)."""
    items = (timings.get("attribution") or {}).get("items") or {}
    return {r.id: {m.name: (items.get(r.id) or {}).get(m.name) for m in section.methods}
            for r in (section.images if section else [])}


PAGES: list[Callable[[Results, dict], Iterator[Page | Asset]]] = [_summary_pages, _attribution_pages, dissection_pages]


def render_site(study: Study) -> int:
    """Write every page for the study's current results; returns the number of pages written."""
    results = load_results(study)
    if results is None:
        from ..errors import XaiReportError

        raise XaiReportError(f"{study.output_path}: no results.json yet; run xai-report build first")
    timings = read_timings(study)
    site = study.site_path
    site.mkdir(parents=True, exist_ok=True)
    env = environment(TEMPLATES_DIR)
    base = {"study": results.study, "results": results, "attribution": results.attribution,
            "dissection": results.dissection, "benchmarks": _benchmark_runs(study),
            "tested_claims": claim_verdicts(study, results),  # the claims file's verdicts (None without one)
            "raw": study.publish_raw}
    written = copy_assets(study, results, site)
    figures_key = _figures_key(study)
    figures_fresh = (site / FIGURES_KEY).is_file() and (site / FIGURES_KEY).read_text() == figures_key
    if scale_site.is_large(results.attribution):
        written += scale_site.write_files(study.output_path, results.attribution, site, study.publish_raw, figures_fresh)
    count = 0
    for producer in [*PAGES, claims_pages(base["tested_claims"])]:
        for page in producer(results, timings):
            if isinstance(page, Asset):
                # figures depend on results.json alone: unchanged results, unchanged figures (render stays fast)
                if not (figures_fresh and (site / page.path).is_file()):
                    write_if_changed(site / page.path, page.make())
                written.append(page.path)
                continue
            root = Safe("../" * page.path.count("/"))
            text = env.get_template(page.template).render(**base, **page.context, page_path=page.path, root=root)
            target = site / page.path
            if not (target.is_file() and target.read_text(encoding="utf-8") == text):
                write_atomic(target, text)
            written.append(page.path)
            count += 1
    _remove_stale(site, set(written))
    write_atomic(site / FIGURES_KEY, figures_key)
    ensure_mkdocs_yml(study, results, written)
    return count


def _benchmark_runs(study: Study) -> list[dict]:
    """The study's benchmark results for the methodology page; none when it names no folder."""
    return load_runs(study.path(study.benchmarks)) if study.benchmarks else []


def _figures_key(study: Study) -> str:
    from ..version import __version__
    from ..store import bytes_sha256

    return bytes_sha256((study.output_path / RESULTS_FILE).read_bytes() + __version__.encode())


def _remove_stale(site: Path, written: set[str]) -> None:
    """Delete files an earlier render wrote that this one did not (e.g. a removed image's page)."""
    manifest = site / MANIFEST
    previous = set(json.loads(manifest.read_text())) if manifest.is_file() else set()
    for rel in sorted(previous - written):
        target = (site / rel).resolve()
        if target.is_file() and site.resolve() in target.parents:
            target.unlink()
    write_atomic(manifest, json.dumps(sorted(written), indent=0))
