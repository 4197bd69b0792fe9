"""The networks a study dissects, set up once: CLIP (for the CLIP concept source), every dissected model on the
device in eval mode, each model's randomised twin, the layers collected from each and what identifies each in a
cache key. The stage sets them up, and so does each worker process that computes probe features (:mod:`.remote`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..cache import ArtifactCache, Timings
from ..config import DissectionConfig, Study
from ..errors import ConfigError
from ..models import LoadedClip, LoadedModel, load_clip
from ..models.randomise import randomised, twin_cache_id
from ..stage import load_study_model
from .classifier import collected_layers
from .features import ProbeFeatures


@dataclass
class Networks:
    """What :func:`set_up` returns."""

    clip: LoadedClip | None
    """None with the labels concept source."""
    models: dict[str, LoadedModel]
    """The dissected models, by their key in the study."""
    twins: dict[str, LoadedModel]
    """Each model's randomised twin (Adebayo et al., NeurIPS 2018), by ``"<key> (randomised)"``."""
    twin_of: dict[str, str]
    collect: dict[str, list[str]]
    """The layers collected from each model and twin."""
    model_ids: dict[str, dict]
    """What identifies each model and twin in a cache key (its weights and preprocessing)."""

    def features(self, cfg: DissectionConfig, cache: ArtifactCache, timings: Timings, device: torch.device
                 ) -> ProbeFeatures:
        """The probe features of every model and twin (and CLIP), read and stored through ``cache``."""
        return ProbeFeatures(cache, timings, device, self.clip, {**self.models, **self.twins}, self.collect,
                             self.model_ids, pool=cfg.pool, batch_size=cfg.batch_size, token_pool=cfg.token_pool,
                             pool_id=cfg.pool_id())


def set_up(study: Study, device: torch.device, models: dict[str, LoadedModel] | None = None,
           clip: LoadedClip | None = None) -> Networks:
    """The study's dissected networks on ``device``; ``models`` and ``clip`` may be given already loaded (tests inject
    tiny ones), the others are loaded from the config's (already absolute) paths. CLIP is loaded first: the file
    most likely missing offline. One-line :class:`ConfigError` for a model that cannot be dissected."""
    cfg = study.dissection
    if cfg.concepts_source == "labels":
        clip = None
    else:
        spec = cfg.clip
        clip = clip or load_clip(spec.arch, spec.pretrained, file=spec.file, offline=study.offline)
        clip.model.to(device).eval()
    given = models or {}
    loaded = {key: given.get(key) or load_study_model(study, key, device) for key in cfg.models}
    for key, model in loaded.items():
        model.module.to(device).eval()
        if model.channels_last:  # Swin's (N, H, W, C) maps would be pooled over the wrong axes
            raise ConfigError(f"dissection.models: {key} outputs channels-last maps (a Swin); dissecting them is "
                              "not supported yet; dissect a ViT, a DeiT or a CNN")
    model_ids = {key: m.cache_id() for key, m in loaded.items()}
    collect = {key: collected_layers(key, m, list(cfg.layers)) for key, m in loaded.items()}
    twin_of, twins = {}, {}
    for key, model in loaded.items():
        twin_key = twin_of[key] = f"{key} (randomised)"
        twins[twin_key] = randomised(model, study.seed)
        model_ids[twin_key] = twin_cache_id(twins[twin_key])
        collect[twin_key] = collect[key]
    return Networks(clip, loaded, twins, twin_of, collect, model_ids)
