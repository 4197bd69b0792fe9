"""The explained logit decomposed over what the linear layers read, on two heads beyond pool-then-linear: timm's
ConvNeXt (pool, LayerNorm, linear) and a distilled DeiT (two linear heads over two tokens, averaged); and the
one-line reason for a head that does not decompose (an MLP)."""

from __future__ import annotations

import timm
import torch
from torch import nn

from xai_report.attribution import contributions, token_head


def decomposed_logit(model: nn.Module, head: nn.Linear, x: torch.Tensor, c: int) -> tuple[float, float]:
    """(contributions + bias, the model's logit) for class ``c``, through the same functions the stage uses."""
    logits, features = contributions.forward_with_features(model, head, x)
    found = contributions.decompose(features, head.weight[c].detach().numpy(), float(head.bias[c].detach()))
    return sum(found["contributions"]) + found["bias"], float(logits[0, c])


def test_convnext_logit_is_the_normed_pooled_features_times_the_weights():
    torch.manual_seed(0)
    model = timm.create_model("convnext_atto", pretrained=False, num_classes=7).eval()
    x = torch.randn(1, 3, 64, 64)
    assert isinstance(contributions.find_pooled_head(model, "stages.3", x), str)  # refused before
    head, features, norm = contributions.find_normed_pooled_head(model, "stages.3", x)
    assert head is model.head.fc and norm == "head.norm" and "320 features" in features
    for c in range(7):
        total, logit = decomposed_logit(model, head, x, c)
        assert abs(total - logit) <= 1e-4 * max(1.0, abs(logit))


def test_distilled_deit_logit_is_both_tokens_features_with_each_head_halved():
    torch.manual_seed(0)
    model = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, img_size=32, num_classes=5).eval()
    with torch.no_grad():  # random heads of their own (timm zero-initialises the distillation head's weights)
        model.head_dist.weight.normal_(0, 0.1)
        model.head_dist.bias.normal_(0, 0.1)
    x = torch.randn(1, 3, 32, 32)
    head, features, norm = token_head.find_token_head(model, x, prefix=2)
    assert isinstance(head, token_head.AveragedHeads) and head.sources == (model.head, model.head_dist)
    assert "class token and the distillation token" in features and "halved" in features and norm == "norm"
    assert head.weight.shape == (5, 2 * 192)
    for c in range(5):
        total, logit = decomposed_logit(model, head, x, c)
        assert abs(total - logit) <= 1e-4 * max(1.0, abs(logit))
    _, feats = contributions.forward_with_features(model, head, x)  # the class token's features first
    with torch.no_grad():
        tokens = model.forward_features(x)
    assert torch.allclose(torch.from_numpy(feats), torch.cat([tokens[0, 0], tokens[0, 1]]), atol=1e-6)


def test_an_mlp_head_stays_absent_with_one_line():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(8),
                          nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    x = torch.randn(1, 3, 16, 16)
    for reason in (contributions.find_pooled_head(model, "0", x), contributions.find_normed_pooled_head(model, "0", x)):
        assert isinstance(reason, str) and "\n" not in reason
    assert contributions.for_image(contributions.find_normed_pooled_head(model, "0", x), None, 0, "0")["absent"] == \
        "the classifier's input is not the global average of 0, normed or not"
