"""The loaded classifier every model source returns: the module, how to feed it and how to name its outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .preprocess import Preprocess


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
    # -- issue 20: where the preprocessing came from, and what token models need ----------------------------
    preprocess_source: str = ""
    """Where :attr:`preprocess` came from (e.g. "timm pretrained_cfg", "AutoImageProcessor"), for the pages."""
    prefix_tokens: int | None = None
    """Token models: tokens before the patch tokens (class, distillation, registers); None: infer them."""
    channels_last: bool = False
    """4-D layer outputs are (N, H, W, C) (timm's Swin), not (N, C, H, W)."""
    default_layer: str = ""
    """The CAM layer used when the study names none (ViT: the last block's first norm; Swin: its last stage)."""

    def cache_id(self) -> dict:
        """What identifies the model in cache keys: its weights and its preprocessing."""
        return {"weights": self.weights_id, "preprocess": self.preprocess.to_dict()}
