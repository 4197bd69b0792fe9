"""Model zoo: classifiers to explain and CLIP models to label neurons with.

One job per module:

* :mod:`.weights`: weight files (the hub cache folder, safe downloads, ``weights_only`` checkpoint loading,
  file hashes, offline errors);
* :mod:`.preprocess`: :class:`Preprocess`, a model's own input pipeline, and a study's overrides of it;
* :mod:`.classes`: ImageNet and Places365 class names;
* :mod:`.classifiers`: :class:`LoadedModel` and the ``MODEL_SOURCES`` registry of loaders (torchvision,
  places365, local, packaged);
* :mod:`.clip`: :class:`LoadedClip` and :func:`load_clip` (open_clip);
* :mod:`.layers`: :func:`resolve_layer` (``layer4[-1]``);
* :mod:`.device`: :func:`pick_device`, called once per stage.
"""

from .classes import imagenet_classes, places365_classes
from .classifiers import (MODEL_SOURCES, PLACES365_URL, LoadedModel, efficientnet_lite0_file, load_local, load_model,
                          load_packaged, load_places365, load_torchvision)
from .clip import LoadedClip, load_clip
from .device import pick_device
from .layers import resolve_layer
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, with_overrides
from .weights import (DOWNLOAD_TIMEOUT_S, OFFLINE_DEMO_HINT, fetch_weight_file, file_sha256, host_reachable,
                      hub_checkpoint_dir, load_checkpoint, load_state_dict_checked, local_weight_file)

__all__ = [
    "DOWNLOAD_TIMEOUT_S", "IMAGENET_MEAN", "IMAGENET_STD", "MODEL_SOURCES", "OFFLINE_DEMO_HINT", "PLACES365_URL",
    "LoadedClip", "LoadedModel", "Preprocess", "efficientnet_lite0_file", "fetch_weight_file", "file_sha256",
    "host_reachable", "hub_checkpoint_dir", "imagenet_classes", "load_checkpoint", "load_clip", "load_local",
    "load_model", "load_packaged", "load_places365", "load_state_dict_checked", "load_torchvision",
    "local_weight_file", "pick_device", "places365_classes", "resolve_layer", "with_overrides",
]
