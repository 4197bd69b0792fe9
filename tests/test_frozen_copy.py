"""The frozen CPU copy is the same whoever asks for it first: hooks on the model never reach its trace."""

from __future__ import annotations

import pytest
import torch
from pytorch_grad_cam import GradCAM

from xai_report.attribution import inference
from xai_report.models import resolve_layer

from conftest import tiny_loaded_model


def test_a_hook_present_at_freezing_is_not_traced_and_stays_registered():
    model = tiny_loaded_model().module
    x = torch.rand(4, 3, 32, 32)
    with torch.inference_mode():
        want = model(x)
        unhooked_copy = inference.frozen_for_cpu(model, x[:2])(x)
    calls = []

    def doubling(_module, _inputs, out):
        calls.append(1)
        return out * 2  # a hook that changes the output: a traced copy would double it for ever

    handle = model.features.register_forward_hook(doubling)
    with torch.inference_mode():
        frozen = inference.frozen_for_cpu(model, x[:2])
        got = frozen(x)
        hooked = model(x)
    assert frozen is not None and torch.equal(got, unhooked_copy) and torch.allclose(got, want, atol=1e-5)
    assert calls and not torch.equal(hooked, want)  # the hook is back on the model
    handle.remove()
    with torch.inference_mode():
        assert torch.equal(model(x), want)


@pytest.mark.real_model
def test_frozen_copy_is_bitwise_the_same_with_or_without_gradcam_hooks(effnet):
    """grad-cam's hooks on the target layer used to change the copy's fusion and its last bits (1e-6), so a
    resumed build whose first scoring came from the metrics differed from a clean one (Score-CAM first)."""
    model = effnet.module.eval()
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        plain = inference.frozen_for_cpu(model, x[:2])(x)
    cam = GradCAM(model=model, target_layers=[resolve_layer(model, "bn2")])
    try:
        with torch.inference_mode():
            under_hooks = inference.frozen_for_cpu(model, x[:2])(x)
    finally:
        cam.activations_and_grads.release()
    assert torch.equal(plain, under_hooks)
