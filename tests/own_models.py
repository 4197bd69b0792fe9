"""Small random-weight models in the real file formats of each model source (no download: tests run offline).

timm: ``vit_tiny_patch16_224`` at a reduced size (``img_size=64, depth=2``) and a Swin shrunk through timm's
kwargs; Hugging Face: a ViT from a small ``ViTConfig`` saved with ``save_pretrained`` (with its image
processor); python: the entry point of ``studies/examples/my_model.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from conftest import STUDY_IMAGES

VIT_KWARGS = {"img_size": 64, "depth": 2}
SWIN_KWARGS = {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1], "img_size": 64, "window_size": 2}
TOML_KWARGS = {
    "vit": "{ img_size = 64, depth = 2 }",
    "swin": "{ embed_dim = 24, depths = [1, 1, 1, 1], num_heads = [1, 1, 1, 1], img_size = 64, window_size = 2 }",
}
TIMM_NAMES = {"vit": "vit_tiny_patch16_224", "swin": "swin_tiny_patch4_window7_224", "test_vit": "test_vit"}
PHOTOS = {"goldfish": "n01443537_goldfish.JPEG", "flamingo": "n02007558_flamingo.JPEG"}


def timm_file(path: Path, family: str = "vit", seed: int = 0, **kwargs) -> Path:
    """A timm model's random weights as ``.safetensors`` (or ``.pth``), seeded."""
    import timm

    torch.manual_seed(seed)
    model = timm.create_model(TIMM_NAMES[family], pretrained=False, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(path))
    else:
        torch.save(model.state_dict(), path)
    return path


def hf_folder(folder: Path, seed: int = 0, image_size: int = 64) -> Path:
    """A Hugging Face ViT image classifier (2 classes: goldfish, flamingo) in ``save_pretrained`` layout."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(seed)
    labels = list(PHOTOS)
    config = ViTConfig(image_size=image_size, patch_size=16, hidden_size=48, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=96, num_labels=len(labels), id2label=dict(enumerate(labels)),
                       label2id={name: i for i, name in enumerate(labels)})
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return folder


def image_folder_layout(folder: Path) -> Path:
    """``folder/<class>/<photo>``: two study photos in ImageFolder layout."""
    for label, name in PHOTOS.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(STUDY_IMAGES / name, folder / label / name)
    return folder


def flat_photos(folder: Path) -> Path:
    """The two photos directly in ``folder`` (labels from a CSV)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS.values():
        shutil.copy(STUDY_IMAGES / name, folder / name)
    return folder
