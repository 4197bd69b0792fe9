"""``xai-report init``: a commented study file for your model and your image folder, that ``check`` accepts.

:func:`study_text` writes the TOML (paths relative to the study file's folder); the CLI refuses to overwrite.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

SOURCES = ("timm", "huggingface", "python", "torchvision")


def _relative(path: str, base: Path) -> str:
    """``path`` as the study file will read it: relative to the study's folder (forward slashes)."""
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def _model_table(source: str, name: str, file: str, entry: str, base: Path) -> str:
    if source == "timm":
        if not name:
            raise ConfigError("init: --name is required for --source timm (a timm model name, e.g. vit_tiny_patch16_224)")
        lines = [f'name = "{name}"                    # a name of timm.list_models()']
        lines.append(f'file = "{_relative(file, base)}"    # its state dict (.pth) or .safetensors' if file else
                     "# file = \"weights.safetensors\"   # without it: timm's pretrained weights (needs the network)")
        lines.append("# class_names = \"classes.txt\"     # one a line, in output order (default: ImageNet's for 1000 outputs)")
        lines.append("# kwargs = { num_classes = 10 }     # keyword arguments of timm.create_model")
    elif source == "huggingface":
        if not name:
            raise ConfigError("init: --name is required for --source huggingface (a save_pretrained folder or a hub id)")
        shown = _relative(name, base) if Path(name).is_dir() else name
        lines = [f'name = "{shown}"    # a save_pretrained folder (config.json, weights, preprocessor_config.json)']
    elif source == "python":
        if not entry:
            raise ConfigError('init: --entry is required for --source python ("my_model.py:build" or "package.module:build")')
        target, _, func = entry.rpartition(":")
        shown = f"{_relative(target, base)}:{func}" if target.endswith(".py") else entry
        lines = [f'entry = "{shown}"    # a function returning an nn.Module (or a dict: model, preprocess, class_names)']
        if file:
            lines.append(f'file = "{_relative(file, base)}"    # passed to the function as file=...')
    elif source == "torchvision":
        lines = [f'name = "{name or "resnet50"}"', 'weights = "DEFAULT"']
        if file:
            lines.append(f'file = "{_relative(file, base)}"    # a state dict of that architecture')
    else:
        raise ConfigError(f"init: --source {source!r}; allowed: {', '.join(SOURCES)}")
    return "\n".join([f'source = "{source}"', *lines])


def study_text(out: Path, source: str, images: str, name: str = "", file: str = "", entry: str = "",
               title: str = "") -> str:
    """The study file ``init`` writes at ``out`` (see the module docstring)."""
    base = out.parent
    folder = Path(images)
    if not folder.is_dir():
        raise ConfigError(f"init: --images {images}: folder does not exist")
    image_folder = any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir())
    target = ('target = "label"                  # the true class, from the ImageFolder subfolder names'
              if image_folder else
              'target = "predicted"              # or "label" with labels = "file_label.csv", or a class index')
    layer = ('layer = "layer4[-1]"               # the CAM layer (a torchvision ResNet\'s last block)' if source == "torchvision"
             else "# layer = \"...\"                   # none: the family's default CAM layer (ViT, DeiT: the last block's "
                  "first norm; Swin: its last stage; other timm models: their last feature stage)")
    return f"""# Written by `xai-report init`; check it with `xai-report check --study {out.name}`,
# build with `xai-report build --study {out.name}`, then `mkdocs serve`.
title = "{title or 'My model explained'}"
seed = 0                                  # LIME's and RISE's sampling: same config + inputs = same results
output_dir = "output"                     # cached artifacts, results.json, maps and overlays
site_dir = "site_src"                     # the MkDocs pages (mkdocs.yml is written beside it)

[models.mine]
{_model_table(source, name, file, entry, base)}
# [models.mine.preprocess]                # replaces the model's own preprocessing, key by key
# resize = 256
# crop = 224

[attribution]
model = "mine"
images = "{_relative(images, base)}"{' ' * max(1, 24 - len(_relative(images, base)))}# one subfolder per class (ImageFolder), or photos directly
{target}
{layer}
methods = ["gradcam", "ablationcam", "scorecam", "lime"]   # + rise, gradcam++, layercam, eigencam, ...

[attribution.lime]
num_samples = 1000
"""
