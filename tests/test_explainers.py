"""The explainer interface: RISE through it, a made-up non-CAM method through stage, metrics and pages, the
registry's code lists, and the sentences render makes from the numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner
from torch import nn

from xai_report.attribution.methods import registry
from xai_report.attribution.methods.explainer import Explainer, Explanation, Regions, Settings
from xai_report.attribution.methods.registry import METHODS, Method
from xai_report.attribution.methods.rise import RiseExplainer, RiseParams, draw_grids, masks_of
from xai_report.cli import main
from xai_report.data import PreparedImage
from xai_report.models import Preprocess
from xai_report.records import AttributionSection, ConfidenceVsAgreement
from xai_report.render import attribution_text

from conftest import tiny_loaded_model, write_study
from records_fill import filled

ATTRIBUTION = Path(registry.__file__).parents[1]
SIDE = 16


class RegionModel(nn.Module):
    """Two classes; class 0's logit grows with channel 0's mean in rows/columns 4-7 (the evidence)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = x[:, 0, 4:8, 4:8].mean(dim=(1, 2))
        return torch.stack([4.0 * r - 2.0, torch.zeros_like(r)], dim=1)


def _settings(seed: int = 0) -> Settings:
    return Settings(32, nn.Identity(), Preprocess(resize=SIDE, crop=SIDE, mean=(0.5,) * 3, std=(0.25,) * 3), torch.device("cpu"), seed)


def _region_image() -> PreparedImage:
    x = torch.zeros(1, 3, SIDE, SIDE)
    x[0, 0, 4:8, 4:8] = 1.0
    return PreparedImage(rgb=np.zeros((SIDE, SIDE, 3), np.float32), tensor=x)


# ---------------------------------------------------------------------------------------------
# RISE


def test_rise_masks_follow_the_paper():
    draw = draw_grids(300, 7, 0.5, (20, 30), np.random.default_rng(0))
    masks = masks_of(draw, slice(0, 300))
    assert masks.shape == (300, 20, 30) and masks.dtype == np.float32
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    assert abs(float(masks.mean()) - 0.5) < 0.03  # E[M] = p
    assert draw.dy.max() < 3 and draw.dx.max() < 5  # offsets in [0, ceil(side / s))
    assert len({(int(a), int(b)) for a, b in zip(draw.dy, draw.dx)}) > 5  # shifted, not on one lattice


def test_rise_finds_the_evidence_and_is_seeded():
    model, image = RegionModel().eval(), _region_image()
    first = RiseExplainer(_settings(0), RiseParams(masks=400)).explain(model, image, 0)
    again = RiseExplainer(_settings(0), RiseParams(masks=400)).explain(model, image, 0)
    other = RiseExplainer(_settings(1), RiseParams(masks=400)).explain(model, image, 0)
    assert first.map.dtype == np.float32 and first.map.shape == (SIDE, SIDE)
    assert first.map.tobytes() == again.map.tobytes()
    assert first.map.tobytes() != other.map.tobytes()
    inside = first.map[4:8, 4:8].mean()
    outside = np.delete(first.map.ravel(), (np.arange(4, 8)[:, None] * SIDE + np.arange(4, 8)).ravel()).mean()
    assert inside > outside + 0.02


# ---------------------------------------------------------------------------------------------
# through stage, metrics and pages


class BlockExplainer(Explainer):
    """A made-up region-level method: 8x8-pixel blocks, each weighted by its mean first channel."""

    def explain(self, model: nn.Module, image: PreparedImage, target: int) -> Explanation:
        h, w = image.tensor.shape[-2:]
        rows, cols = np.indices((h, w)) // 8
        segments = (rows * ((w + 7) // 8) + cols).astype(np.int32)
        channel = image.tensor[0, 0].numpy()
        weights = {int(s): float(channel[segments == s].mean()) for s in np.unique(segments)}
        regions = Regions(segments, weights)
        return Explanation(map=regions.pixel_map(), regions=regions, files={"rows": rows.astype(np.int16)},
                           fields={"blocks": len(weights), "target_seen": int(target)})


def _build(tmp_path, image_folder, monkeypatch, methods) -> tuple[dict, Path]:
    import xai_report.stage as stage_base

    monkeypatch.setattr(stage_base, "load_model", lambda spec, offline: tiny_loaded_model())
    study = write_study(tmp_path, image_folder, methods=methods, layer="features", metrics=True)
    result = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads((tmp_path / "out" / "results.json").read_text()), tmp_path / "site_src"


def test_a_new_non_cam_method_flows_through_stage_metrics_and_pages(tmp_path, image_folder, monkeypatch):
    monkeypatch.setitem(METHODS, "blocks", Method("blocks", "Blocks", "a test method", factory=lambda s, _params: BlockExplainer()))
    results, site = _build(tmp_path, image_folder, monkeypatch, ("gradcam", "blocks"))
    section = results["attribution"]
    record = section["images"][0]
    entry = record["methods"]["blocks"]
    assert list(entry) == ["class_index", "map", "overlay", "segments", "weights", "rows", "blocks", "target_seen"]
    assert entry["blocks"] == 16 and entry["target_seen"] == record["target"]["index"]
    assert np.load(tmp_path / "out" / entry["rows"]).dtype == np.int16
    assert np.load(tmp_path / "out" / entry["segments"]).shape == (32, 32)
    agreement = record["metrics"]["agreement"]
    assert set(agreement) == {"pairs", "blocks"} and set(agreement["blocks"]) == {"gradcam"}
    assert set(record["metrics"]["faithfulness"]["methods"]) == {"gradcam", "blocks"}
    rows = {r["method"]: r for r in section["comparison"]["methods"]}
    assert rows["gradcam"]["region_agreement"]["blocks"]["n"] == 2 and rows["blocks"]["region_agreement"]["blocks"] is None
    page = (site / "attribution" / "images" / f"{record['id']}.md").read_text()
    assert "Superpixel Spearman with Blocks" in page and "| Blocks |" in page
    assert "Agreement with Blocks (superpixel Spearman)" in (site / "attribution" / "comparison.md").read_text()


def test_rise_is_selectable_and_on_every_page(tmp_path, image_folder, monkeypatch):
    results, site = _build(tmp_path, image_folder, monkeypatch, ("gradcam", "rise", "lime"))
    section = results["attribution"]
    assert [m["name"] for m in section["methods"]] == ["gradcam", "rise", "lime"]
    own = {m["name"]: m for m in section["methods"]}
    assert own["rise"]["settings"]["Masks"] and own["lime"]["settings"]["Samples"] == "60"
    for record in section["images"]:
        rise = np.load(tmp_path / "out" / record["methods"]["rise"]["map"])
        assert rise.dtype == np.float32 and rise.shape == (32, 32) and np.ptp(rise) > 0
        assert "rise" in record["metrics"]["faithfulness"]["methods"]
        assert "rise" in record["metrics"]["agreement"]["lime"]
        assert any({p["a"], p["b"]} == {"gradcam", "rise"} for p in record["metrics"]["agreement"]["pairs"])
        page = (site / "attribution" / "images" / f"{record['id']}.md").read_text()
        assert page.count("RISE") >= 4  # heatmaps, faithfulness, pixel and superpixel agreement, raw results
    for name in ("gallery.md", "comparison.md", "index.md"):
        assert "RISE" in (site / "attribution" / name).read_text(), name


# ---------------------------------------------------------------------------------------------
# the registry


def test_each_method_keys_on_its_own_module_only():
    """A method's maps are keyed by the closure of the code it runs (its explainer class and, for a CAM, the class
    it wraps): each fast method's own module is in its closure and in no other method's."""
    from xai_report.attribution.methods.explainer import explained
    from xai_report.fingerprint import code_closure

    own = {"ablationcam": "ablation_cam", "scorecam": "score_cam", "lime": "lime_explainer", "rise": "rise"}
    from dataclasses import replace
    from xai_report.models.tokens import TokenLayout

    def made(method):  # the attention methods explain token models only
        tokens = TokenLayout("tokens", (2, 2), 8, 1) if method.family == "attention" else None
        return method.make(replace(_settings(0), layout=tokens))

    closures = {name: {m.rsplit(".", 1)[-1] for m in code_closure((explained, *made(method).runs))[0]}
                for name, method in METHODS.items()}
    for name, module in own.items():
        assert module in closures[name]
        assert all(module not in closures[other] for other in own if other != name), name
    assert all({"explainer", "overlays", "data"} <= found for found in closures.values())
    assert "cam" in closures["gradcam"] and "cam" not in closures["lime"]
    runs = {name: [f"{r.__module__}.{r.__qualname__}" for r in made(method).runs]
            for name, method in METHODS.items()}
    assert runs["gradcam"] != runs["gradcam++"]  # same module, another class: another key


def test_no_method_is_a_special_case_outside_its_module():
    for path in ATTRIBUTION.rglob("*.py"):
        if path.name in ("registry.py", "lime_explainer.py", "kernel_shap.py"):  # KernelSHAP: on LIME's superpixels
            continue
        text = path.read_text()
        assert '"lime"' not in text and "'lime'" not in text, path.name


# ---------------------------------------------------------------------------------------------
# sentences made by render


def _section(rho, p, n=10):
    cva = {"points": [], "spearman": rho, "p_value": p, "n": n}
    row = {"method": "gradcam", "deletion_auc": {"mean": 0.1834, "std": 0.01, "n": n}, "beats_random_deletion": 4,
           "images": n}
    return filled({"methods": [{"name": "gradcam", "title": "Grad-CAM"}, {"name": "lime", "title": "LIME"}],
                   "images": [{"methods": {"gradcam": {}, "lime": {"segments": "x"}}}],
                   "comparison": {"methods": [row], "confidence_vs_agreement": cva}}, AttributionSection)


def test_verdict_and_headlines_read_the_numbers():
    section = _section(0.61, 0.03)
    cva = section.comparison.confidence_vs_agreement
    assert attribution_text.verdict(cva, "LIME") == (
        "across 10 images, CAM-LIME agreement and the model's confidence have Spearman rho = 0.61 (p = 0.03): "
        "our data supports the study's claim that methods agree more on clear images")
    assert "leans towards" in attribution_text.verdict(_section(0.2, 0.4).comparison.confidence_vs_agreement)
    assert "does not support" in attribution_text.verdict(_section(-0.2, 0.4).comparison.confidence_vs_agreement)
    assert attribution_text.verdict(ConfidenceVsAgreement(points=[], spearman=None, p_value=None, n=2)) == (
        "too few images with both LIME and a CAM to test the claim")
    assert attribution_text.headlines(section) == [
        "Most faithful by deletion AUC (lower is better): Grad-CAM (0.183 on average); it beats a smooth random map "
        "on 4 of 10 images.",
        "Grad-CAM deletes slower than a random map on most images (6 of 10).",
        "Simple vs ambiguous images: " + attribution_text.verdict(cva, "LIME") + ".",
    ]
    assert attribution_text.headlines(filled({"methods": []}, AttributionSection)) == []
