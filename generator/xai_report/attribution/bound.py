"""What the per-image attribution work (:mod:`.image`) needs of a study, in two parts another process can have too.

* :class:`ImageSettings`: the ``[attribution]`` values it reads (layer, target rule, methods, metrics switches,
  seed, deletion steps, boxes file, stability reruns); frozen and picklable.
* :class:`BoundModel`: the study's model on a device with everything made from it once: its explainers, its
  randomised twin (Adebayo et al., NeurIPS 2018) and the map measures' state. It holds modules, so it is not sent
  to another process: :func:`bind` makes it there from the study, exactly as the stage does here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..config import Study
from ..errors import ConfigError
from ..models.classifiers import LoadedModel
from ..models.layers import resolve_layer
from ..models.tokens import TokenLayout, layer_layout
from ..stage import load_study_model
from . import contributions, token_head
from .methods.explainer import Explainer, Settings
from .metrics.map_measures import MapMeasures
from .metrics.plan import plan as metric_plan
from .metrics.planned import MetricPlan
from .methods.registry import METHODS
from .metrics.randomisation.randomised import Twin, make_twin
from .subject import Subject

@dataclass(frozen=True)
class ImageSettings:
    """The study's ``[attribution]`` values that the per-image work reads (see :meth:`of`)."""

    layer: str
    target: str | int
    """``attribution.target``: ``"predicted"``, ``"label"`` or a class index."""
    methods: tuple[str, ...]
    metrics: bool
    seed: int
    deletion_steps: int

    @classmethod
    def of(cls, study: Study) -> ImageSettings:
        cfg = study.attribution
        return cls(cfg.layer, cfg.target, tuple(cfg.methods), cfg.metrics, study.seed, cfg.deletion_steps)


@dataclass
class BoundModel:
    """The study's model, bound to a device, and what is made from it once per process (see :func:`bind`)."""

    model: LoadedModel
    device: torch.device
    explainers: dict[str, Explainer]
    """The study's methods, bound to the model's target layer."""
    twin: Twin | None
    """The randomised twin and its explainers (``attribution.randomised_methods``), or None."""
    measures: MapMeasures
    layout: TokenLayout
    """How the target layer's output lies: a feature map, or tokens put on their patch grid (a dry run)."""
    plan: MetricPlan = field(default_factory=lambda: MetricPlan((), ()))
    """The registry metrics the study runs (``[metrics]``, :mod:`.metrics.plan`)."""
    subject: Subject = field(init=False)
    """The model as methods explain it: its module and cache identity."""
    _head: nn.Linear | str | None = field(default=None, init=False)
    head_features: str = field(default="", init=False)
    """With a token head (ViT, Swin): which features its linear layer reads, for the pages."""
    head_layer: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.subject = Subject(self.model.module, on_device(self.model.cache_id(), self.device))

    def pooled_head(self, layer: str, x: torch.Tensor) -> nn.Linear | str:
        """The classifier fed by ``layer``'s global average, or why there is none (found once)."""
        if self._head is None:
            self._head = contributions.find_pooled_head(self.model.module, layer, x)
            if isinstance(self._head, str):  # a ViT / Swin / DeiT head over its pooled tokens, or pool-norm-linear
                found = token_head.find_token_head(self.model.module, x, self.layout.prefix) if self.layout.is_token \
                    else contributions.find_normed_pooled_head(self.model.module, layer, x)
                if isinstance(found, tuple):  # else the pooled head's reason stands
                    self._head, self.head_features, self.head_layer = found
        return self._head

    def layer_hw(self, layer: str, x: torch.Tensor) -> tuple[int, int]:
        """Spatial size of the target layer's output (a token layer's patch grid): the random baseline's
        resolution."""
        return self.layout.grid


def on_device(model_key: dict, device: torch.device) -> dict:
    """``model_key`` with the device type (``cpu``, ``cuda``, ...) it runs on: CPU and GPU give different bits (the
    CPU path runs a frozen TorchScript copy, :mod:`.inference`), so a mixed fleet of workers never mixes them."""
    return {**model_key, "device": device.type}


def bind(study: Study, device: torch.device, model: LoadedModel | None = None) -> BoundModel:
    """The study's attribution model (``model`` if given: tests) in eval mode on ``device``, with its explainers,
    twin and map measures. Raises :class:`ConfigError` naming ``attribution.layer`` or ``attribution.target`` when
    the model has no such layer or class."""
    cfg = study.attribution
    if model is None:
        model = load_study_model(study, cfg.model, device)
    else:
        model.module.to(device).eval()
    if "layer" not in cfg.model_fields_set and model.default_layer:
        cfg.layer = model.default_layer  # the family's documented CAM layer (ViT, Swin) when the study names none
    try:
        layer = resolve_layer(model.module, cfg.layer)
        probe = torch.zeros(1, 3, *model.preprocess.input_size, device=device)
        layout = layer_layout(model.module, cfg.layer, probe, model.prefix_tokens, model.channels_last)
    except ConfigError as exc:
        raise ConfigError(f"attribution.layer: {exc}") from None
    if isinstance(cfg.target, int) and cfg.target >= len(model.class_names):
        raise ConfigError(f"attribution.target: class {cfg.target} is out of range; "
                          f"{cfg.model} has classes 0-{len(model.class_names) - 1}")
    method_tables = {m: cfg.method_table(m) for m in cfg.methods}
    settings = Settings(cfg.batch_size, layer, model.preprocess, device, study.seed, method_tables, layout)
    explainers = {m: METHODS[m].make(settings) for m in cfg.methods}
    twin_methods = list(cfg.methods if cfg.randomised_methods is None else cfg.randomised_methods)
    twin = make_twin(model, settings, twin_methods, cfg.layer, study.seed) if twin_methods else None
    if twin is not None:
        twin.model_key = on_device(twin.model_key, device)
    measures = MapMeasures(Path(cfg.boxes) if cfg.boxes else None, settings, list(cfg.stability_methods or []),
                           [study.seed + i for i in range(1, cfg.stability_seeds + 1)])
    return BoundModel(model, device, explainers, twin, measures, layout, metric_plan(study))
