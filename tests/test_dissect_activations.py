"""Forward-hook activations of a tiny conv net against the same values computed by hand."""

import pytest
import torch
from torch import nn

from xai_report.activations import activation_maps, collect_activations, pool_output
from xai_report.errors import ConfigError


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@pytest.fixture()
def net_and_images():
    torch.manual_seed(0)
    net = TinyNet()
    images = torch.randn(7, 3, 12, 10)
    return net, images


def manual(net, images):
    with torch.no_grad():
        conv1 = net.features[0](images)
        conv2 = net.features[2](torch.relu(conv1))
        return conv1, conv2, net(images)


def test_mean_pool_and_fc_logits(net_and_images):
    net, images = net_and_images
    batches = [images[:3], images[3:5], images[5:]]
    acts = collect_activations(net, ["features[0]", "features.2", "fc"], batches, pool="mean")
    conv1, conv2, logits = manual(net, images)
    assert set(acts) == {"features[0]", "features.2", "fc"}
    assert acts["features[0]"].shape == (7, 4) and acts["features[0]"].dtype == torch.float32
    torch.testing.assert_close(acts["features[0]"], conv1.mean(dim=(2, 3)))
    torch.testing.assert_close(acts["features.2"], conv2.mean(dim=(2, 3)))
    torch.testing.assert_close(acts["fc"], logits)  # raw logits, no softmax


def test_max_pool_and_tuple_batches(net_and_images):
    net, images = net_and_images
    batches = [(images[:4], torch.zeros(4)), (images[4:], torch.zeros(3))]  # DataLoader-style
    acts = collect_activations(net, ["features[-1]"], batches, pool="max")
    _, conv2, _ = manual(net, images)
    torch.testing.assert_close(acts["features[-1]"], conv2.amax(dim=(2, 3)))
    assert not torch.allclose(acts["features[-1]"], conv2.mean(dim=(2, 3)))


def test_hooks_are_removed_and_model_in_eval(net_and_images):
    net, images = net_and_images
    net.train()
    collect_activations(net, ["features[0]", "fc"], [images])
    assert not net.training
    assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(ConfigError):
        collect_activations(net, ["layer9"], [images])
    assert all(not m._forward_hooks for m in net.modules())


def test_pool_output_token_sequences():
    tokens = torch.arange(24.0).view(2, 3, 4)  # batch x tokens x channels
    torch.testing.assert_close(pool_output(tokens, "mean"), tokens[:, 0])
    with pytest.raises(ValueError):
        pool_output(torch.zeros(2), "mean")
    with pytest.raises(ValueError):
        collect_activations(nn.Identity(), ["x"], [], pool="median")


def test_activation_maps(net_and_images):
    net, images = net_and_images
    conv1, conv2, _ = manual(net, images)
    maps = activation_maps(net, "features.2", images[:2], units=[4, 1])
    assert maps.shape == (2, 2, 5, 4)
    torch.testing.assert_close(maps, conv2[:2][:, [4, 1]])
    up = activation_maps(net, "features.2", images[:2], units=[4], size=(12, 10))
    assert up.shape == (2, 1, 12, 10)
    want = torch.nn.functional.interpolate(conv2[:2, [4]], size=(12, 10), mode="bilinear", align_corners=False)
    torch.testing.assert_close(up, want)
    with pytest.raises(ValueError, match="spatial"):
        activation_maps(net, "fc", images[:2], units=[0])
