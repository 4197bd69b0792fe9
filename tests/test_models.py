"""Model zoo: offline errors, checkpoint loading, the packaged model's own preprocessing, layers."""

import pytest
import torch
import torchvision

from xai_report.errors import BadInput, ConfigError, WeightsUnavailable
from xai_report.models import load_model, resolve_layer


def test_offline_missing_weights_names_file_url_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable) as err:
        load_model({"source": "torchvision", "name": "resnet50", "weights": "IMAGENET1K_V2"}, offline=True)
    msg = str(err.value)
    assert "resnet50-11ad3fa6.pth" in msg and "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in msg
    assert str(tmp_path / "hub" / "checkpoints") in msg and "studies/offline.toml" in msg


def test_unreachable_network_fails_fast_without_partial_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def refuse(url, dst, *args, **kwargs):
        with open(dst, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with pytest.raises(WeightsUnavailable, match="the download failed"):
        load_model({"source": "places365", "arch": "resnet18"}, offline=False)
    assert list((tmp_path / "hub" / "checkpoints").iterdir()) == []


def test_places365_checkpoint_with_module_prefix(tmp_path):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=365)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "resnet18_places365.pth.tar"
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state, "best_prec1": 54.7}, path)
    loaded = load_model({"source": "places365", "arch": "resnet18", "file": str(path)}, offline=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), net.eval()(x))
    assert len(loaded.class_names) == 365 and loaded.class_names[0] == "airfield"
    assert loaded.preprocess.resize == (224, 224)


def test_wrong_shape_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    with pytest.raises(BadInput) as err:
        load_model({"source": "local", "arch": "resnet18", "file": str(path)})
    assert "bad.pth: checkpoint does not fit the architecture" in str(err.value)
    assert "\n" not in str(err.value)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": object()}, path)
    with pytest.raises(BadInput, match="not a loadable PyTorch checkpoint"):
        load_model({"source": "local", "arch": "resnet18", "file": str(path)})


def test_packaged_model_uses_its_own_scaling(effnet):
    assert effnet.preprocess.mean == (0.5, 0.5, 0.5) and effnet.preprocess.std == (0.5, 0.5, 0.5)
    assert effnet.preprocess.resize == 256 and effnet.preprocess.crop == 224
    assert len(effnet.class_names) == 1000 and effnet.class_names[1] == "goldfish"
    assert effnet.wnids[1] == "n01443537"


def test_resolve_layer_paths():
    net = torchvision.models.resnet18()
    assert resolve_layer(net, "layer4[-1]") is net.layer4[1]
    assert resolve_layer(net, "layer4.0.conv1") is net.layer4[0].conv1
    with pytest.raises(ConfigError, match="unknown layer 'layer9'.*children: conv1"):
        resolve_layer(net, "layer9")
    with pytest.raises(ConfigError, match="cannot parse"):
        resolve_layer(net, "layer4[x]")


def test_clip_weights_offline_error_names_source_and_cache():
    from xai_report.models import load_clip

    with pytest.raises(WeightsUnavailable) as err:
        load_clip("ViT-B-16", "openai", offline=True)
    msg = str(err.value)
    assert "huggingface.co/timm/vit_base_patch16_clip_224.openai" in msg and "dissection.clip.file" in msg
    with pytest.raises(ConfigError, match="'imaginary' is not a tag of ViT-B-16"):
        load_clip("ViT-B-16", "imaginary", offline=True)


# ---------------------------------------------------------------------------------------------
# a study's preprocess table, and torchvision architectures with weights from a local file

IMAGENET1K_V2 = {"resize": 232, "crop": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                 "interpolation": "bilinear"}


def _weights_file(tmp_path, arch="resnet18", num_classes=1000, name="w.pth"):
    torch.manual_seed(0)
    net = torchvision.models.get_model(arch, num_classes=num_classes).eval()
    path = tmp_path / name
    torch.save(net.state_dict(), path)
    return net, path


def test_local_file_keeps_torchvision_preprocessing(tmp_path):
    """A ResNet50 read from a local file can be fed exactly as torchvision's IMAGENET1K_V2 weights are."""
    _, path = _weights_file(tmp_path)
    plain = load_model({"source": "local", "arch": "resnet18", "file": str(path)})
    assert plain.preprocess.to_dict() == {"resize": 256, "crop": 224, "mean": [0.485, 0.456, 0.406],
                                          "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"}
    tuned = load_model({"source": "local", "arch": "resnet18", "file": str(path), "preprocess": IMAGENET1K_V2})
    tf = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert tuned.preprocess.to_dict() == {"resize": tf.resize_size[0], "crop": tf.crop_size[0], "mean": list(tf.mean),
                                          "std": list(tf.std), "interpolation": tf.interpolation.value}
    assert tuned.weights_id == plain.weights_id  # the cache keys carry the preprocessing next to the weights


def test_preprocess_table_changes_only_its_keys_for_every_source(tmp_path, effnet):
    packaged = load_model({"source": "packaged", "preprocess": {"resize": [240, 260], "crop": 0}}, offline=True)
    assert packaged.preprocess.resize == (240, 260) and packaged.preprocess.crop is None
    assert packaged.preprocess.input_size == (240, 260)
    assert packaged.preprocess.mean == effnet.preprocess.mean and packaged.preprocess.std == effnet.preprocess.std
    _, path = _weights_file(tmp_path, num_classes=365, name="p.pth")
    places = load_model({"source": "places365", "arch": "resnet18", "file": str(path),
                         "preprocess": {"interpolation": "bicubic", "std": [0.5, 0.5, 0.5]}}, offline=True)
    assert places.preprocess.interpolation == "bicubic" and places.preprocess.std == (0.5, 0.5, 0.5)
    assert places.preprocess.resize == (224, 224) and places.preprocess.mean == (0.485, 0.456, 0.406)


def test_torchvision_source_with_a_local_file(tmp_path):
    """Weights from the file; preprocessing, class names and wnids from the weights enum; no download."""
    net, path = _weights_file(tmp_path)
    loaded = load_model({"source": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1", "file": str(path)},
                        offline=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), net(x))
    assert loaded.weights_id.startswith("torchvision:resnet18:IMAGENET1K_V1:file:")
    assert loaded.preprocess.resize == 256 and loaded.preprocess.crop == 224
    assert loaded.class_names[1] == "goldfish" and loaded.wnids[1] == "n01443537"
    other = tmp_path / "other.pth"
    torch.save(torchvision.models.resnet18().state_dict(), other)
    assert load_model({"source": "torchvision", "name": "resnet18", "file": str(other)}).weights_id != loaded.weights_id
    with pytest.raises(WeightsUnavailable, match="missing.pth does not exist"):
        load_model({"source": "torchvision", "name": "resnet18", "file": str(tmp_path / "missing.pth")})


def test_places365_own_file_is_identified_by_its_bytes(tmp_path):
    """Two different files under CSAIL's name must not share cache keys."""
    ids = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        folder = tmp_path / str(seed)
        folder.mkdir()
        torch.save(torchvision.models.resnet18(num_classes=365).state_dict(), folder / "resnet18_places365.pth.tar")
        ids.append(load_model({"source": "places365", "file": str(folder / "resnet18_places365.pth.tar")}).weights_id)
    assert ids[0] != ids[1] and all(i.startswith("places365:resnet18:resnet18_places365.pth.tar:") for i in ids)


def test_models_package_keeps_its_public_names():
    import xai_report.models as models

    for name in models.__all__:
        assert hasattr(models, name), name
