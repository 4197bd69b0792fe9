"""LRP and the attention methods: our exported map vs the straightforward library (or plain reference) call, per
image, in one run on this machine.

    PYTHONPATH=generator python benchmarks/methods_lrp_attention.py [--images N] [--json FILE]

Pieces (one line each: ``NAME ours_s=... baseline_s=... ratio=... max_abs_diff=... rel_diff=...``, ratio =
baseline_s / ours_s, seconds per image, the median over the images; ``first_s``: our first image, which also
runs the rule check of :mod:`xai_report.attribution.methods.lrp_coverage`):

* ``lrp_<composite>_effnet``: :class:`~xai_report.attribution.methods.lrp.LrpExplainer` vs zennit's own call
  (the composite's context, ``torch.autograd.grad`` with the one-hot output, times the logit) on
  EfficientNet-Lite0 with its packaged ImageNet weights, the study photos at 224x224.
* ``rollout_vit`` / ``attentiongrad_vit``: the attention methods vs a reference written plainly (each block's
  attention recomputed by hand from a timm ``vit_tiny_patch16_224`` with random weights, seed 0, at 224x224).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def zennit_call(model, x, target, composite) -> np.ndarray:
    x = x.clone().requires_grad_(True)
    with composite.context(model) as modified:
        out = modified(x)
        (grad,) = torch.autograd.grad(out, x, grad_outputs=torch.eye(out.shape[1])[[target]])
    return (grad * out[0, target].detach())[0].sum(0).numpy()


def lrp_pieces(images, composite_name: str) -> dict:
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat

    from xai_report.attribution.methods.explainer import Settings
    from xai_report.attribution.methods.lrp import box_bounds
    from xai_report.attribution.methods.lrp_canonizers import canonizers
    from xai_report.attribution.methods.registry import METHODS
    from xai_report.models import load_model

    loaded = load_model({"source": "packaged"}, offline=True)
    model, pre = loaded.module, loaded.preprocess
    ours_explainer = METHODS["lrp"].make(Settings(1, nn.Identity(), pre, torch.device("cpu"), 0,
                                                  {"lrp": {"composite": composite_name}}))
    def reference(x, target):
        if composite_name == "epsilon_gamma_box":
            low, high = box_bounds(pre, tuple(x.shape))
            return zennit_call(model, x, target, EpsilonGammaBox(low=low, high=high, canonizers=canonizers()))
        return zennit_call(model, x, target, EpsilonPlusFlat(canonizers=canonizers()))

    return per_image(images, model, pre, ours_explainer, reference)


def per_image(images, model, pre, explainer, reference) -> dict:
    """Our map and the reference's for each image (explaining the predicted class), timed; :func:`summary`."""
    from xai_report.data import prepare

    rows = []
    for path in images:
        prepared = prepare(Image.open(path).convert("RGB"), pre)
        with torch.no_grad():
            target = int(model(prepared.tensor).argmax())
        ours, ours_s = timed(lambda: explainer.explain(model, prepared, target).map)
        ref, ref_s = timed(lambda: reference(prepared.tensor, target))
        rows.append((ours_s, ref_s, float(np.abs(ours - ref).max()), float(np.abs(ref).max())))
    return summary(rows)


def vit_reference(model, x, target, gradients: bool) -> np.ndarray:
    """The plain reference of ``tests/test_method_attention.py`` (attention recomputed by hand) on the 14x14 grid."""
    from test_method_attention import on_grid, reference_chefer, reference_rollout, timm_reference

    weights, grads = timm_reference(model, x, target)
    found = reference_chefer(weights, grads) if gradients else reference_rollout(weights)
    return on_grid(found, 1, (14, 14), (224, 224))


def attention_pieces(images, method: str) -> dict:
    import timm

    from xai_report.attribution.methods.explainer import Settings
    from xai_report.attribution.methods.registry import METHODS
    from xai_report.models.preprocess import Preprocess
    from xai_report.models.tokens import TokenLayout

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    pre = Preprocess(resize=248, crop=224, mean=(0.5,) * 3, std=(0.5,) * 3)
    explainer = METHODS[method].make(Settings(1, nn.Identity(), pre, torch.device("cpu"), 0, {},
                                              TokenLayout("tokens", (14, 14), 192, 1)))
    return per_image(images, model, pre, explainer,
                     lambda x, target: vit_reference(model, x, target, method == "attentiongrad"))


def summary(rows) -> dict:
    ours = statistics.median(r[0] for r in rows)
    base = statistics.median(r[1] for r in rows)
    diff = max(r[2] for r in rows)
    return {"ours_s": round(ours, 3), "baseline_s": round(base, 3), "ratio": round(base / ours, 3),
            "max_abs_diff": diff, "rel_diff": diff / max(r[3] for r in rows), "first_s": round(rows[0][0], 3),
            "images": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    images = sorted((ROOT / "data" / "images").glob("*.JPEG"))[: args.images]
    results = {}
    for name, run in [("lrp_epsilon_plus_flat_effnet", lambda: lrp_pieces(images, "epsilon_plus_flat")),
                      ("lrp_epsilon_gamma_box_effnet", lambda: lrp_pieces(images, "epsilon_gamma_box")),
                      ("rollout_vit", lambda: attention_pieces(images, "rollout")),
                      ("attentiongrad_vit", lambda: attention_pieces(images, "attentiongrad"))]:
        results[name] = run()
        print(name, " ".join(f"{k}={v}" for k, v in results[name].items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"torch_threads": torch.get_num_threads(), "pieces": results}, indent=2))


if __name__ == "__main__":
    main()
