"""The study file's tables as pydantic v2 models.

``extra="forbid"`` makes an unknown key an error and ``strict=True`` takes types as TOML gives them: a bool is
not an int, a string is not a number; an int is accepted where a float is expected (pydantic's strict mode
allows that one widening). Paths are plain strings here; ``load_study`` makes them absolute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class _Table(BaseModel):
    """A table of the study file: unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PreprocessSpec(_Table):
    """Replaces keys of a model's own preprocessing (``models.preprocess.Preprocess``); unset keys keep it."""

    resize: Union[int, list[int], None] = None
    """Shorter side in pixels, or ``[height, width]``."""
    crop: Optional[int] = None
    """Centre-crop side in pixels; 0 means no crop."""
    mean: Optional[list[float]] = None
    std: Optional[list[float]] = None
    interpolation: Optional[str] = None
    """A torchvision ``InterpolationMode`` value: bilinear, bicubic, nearest, ..."""


class ModelSpec(_Table):
    """A classifier; ``source`` picks the loader in ``models.MODEL_SOURCES``."""

    source: str
    name: str = ""
    weights: str = "DEFAULT"
    arch: str = ""
    file: str = ""
    class_names: str = ""
    label: str = ""
    """Human-readable name for pages; defaults to the model key."""
    preprocess: Optional[PreprocessSpec] = None
    # Keys of the timm, huggingface and python sources (each source checks its own: models/sources/).
    entry: str = ""
    """``source = "python"``: ``package.module:function`` or ``path/to/file.py:function``."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """``source = "timm"``: keyword arguments of ``timm.create_model``."""

    def loader_spec(self) -> dict:
        """The spec as the loaders take it: keys left empty are dropped."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if v != "" and v != {}}


class AttributionConfig(_Table):
    """The ``[attribution]`` table. Besides the keys below it may hold one table per method, named after it
    (``[attribution.lime]``): each method declares and checks its own parameters
    (:mod:`xai_report.attribution.methods.registry`), so this schema does not list them."""

    model_config = ConfigDict(extra="allow", strict=True)

    enabled: bool = True
    model: str = ""
    images: str = "data/images"
    first_images: int = 0
    """Explain only the first N images of ``images`` by file name (a cut of a large folder); 0: all of them."""
    layer: str = "layer4[-1]"
    target: Union[str, int] = "predicted"
    methods: list[str] = Field(default_factory=lambda: ["gradcam", "ablationcam", "scorecam", "lime"])
    batch_size: int = 32
    metrics: bool = True
    randomised_methods: Optional[list[str]] = None
    """The methods that explain every image again with a re-initialised copy of the model (Adebayo et al.,
    NeurIPS 2018), each map compared with the trained model's (``images[].randomised``); unset: every method,
    ``[]``: none."""
    deletion_steps: int = 20
    stability_methods: list[str] = Field(default_factory=list)
    """Methods rerun with seeds ``seed + 1 .. seed + stability_seeds`` to measure their stability across seeds."""
    stability_seeds: int = 2
    labels: str = ""
    """Optional CSV ``file,label`` of the images' true classes (a class name or index); without it, an image
    folder in ImageFolder layout (one subfolder per class) gives them, else WordNet ids in the file names."""
    boxes: str = ""
    """Optional CSV of object boxes per image (``file,wnid,x0,y0,x1,y1,object``, original pixels): the maps'
    energy inside them is measured (``attribution.boxes``)."""
    bootstrap_samples: int = 1000
    """Resamples behind each percentile-bootstrap 95% interval of the dataset-level findings (seeded with ``seed``)."""

    def extra_tables(self) -> dict[str, object]:
        """The keys this schema does not know (method tables, or mistakes), as the file gave them."""
        return dict(self.model_extra or {})

    def method_table(self, method: str) -> dict:
        """The ``[attribution.<method>]`` table ({} when the file has none)."""
        table = (self.model_extra or {}).get(method, {})
        return table if isinstance(table, dict) else {}


class MetricsConfig(_Table):
    """The ``[metrics]`` table: which metrics of the registry (:mod:`xai_report.attribution.metrics.registry`) score
    every method's map of every image. Besides the keys below it may hold one table per metric, named after it
    (``[metrics.sparseness]``): each metric declares and checks its own parameters, so this schema does not list them.
    Today's measures (``attribution.metrics``) are not these: they keep their own switch."""

    model_config = ConfigDict(extra="allow", strict=True)

    run: Optional[list[str]] = None
    """The metrics to compute; unset: the cheap ones (:data:`xai_report.attribution.metrics.plan.DEFAULT_RULE`),
    ``[]``: none."""
    rerun_methods: Optional[list[str]] = None
    """The methods that the metrics which re-run a method (``needs "explain"``: robustness, randomisation) re-run;
    unset: the study's methods that take at most one forward and one backward pass (``Method.passes``)."""

    def extra_tables(self) -> dict[str, object]:
        """The keys this schema does not know (metric tables, or mistakes), as the file gave them."""
        return dict(self.model_extra or {})

    def metric_table(self, metric: str) -> dict:
        """The ``[metrics.<metric>]`` table ({} when the file has none)."""
        table = (self.model_extra or {}).get(metric, {})
        return table if isinstance(table, dict) else {}


class ClipSpec(_Table):
    arch: str = "ViT-B-16"
    pretrained: str = "openai"
    file: str = ""


class DissectionConfig(_Table):
    enabled: bool = False
    models: list[str] = Field(default_factory=list)
    layers: list[str] = Field(default_factory=lambda: ["layer3", "layer4", "fc"])
    probe: list[str] = Field(default_factory=lambda: ["data/probe/imagenet-samples", "data/probe/scenes"])
    concepts: str = "data/concepts/20k.txt"
    concepts_source: str = "clip"
    """Where a probe image's concept probabilities come from: ``clip`` (CLIP-Dissect) or ``labels`` (its
    ImageNet class and the class's WordNet ancestors, :mod:`xai_report.dissect.label_concepts`)."""
    wordnet_classes: str = "data/concepts/imagenet_wordnet.csv"
    wordnet_ancestors: str = "data/concepts/wordnet_ancestors.csv"
    min_classes: int = 3
    max_classes: int = 300
    """Labels source: an ancestor synset is a concept when it covers between these many ImageNet classes."""
    pool: str = "mean"
    token_pool: str = "cls"
    """Token layers (ViT blocks): one value per neuron from the class token (``cls``, CLIP-Dissect's choice), the
    mean (``mean``) or the maximum (``max``) over the patch tokens."""
    top_k: int = 100
    batch_size: int = 64
    strip_images: int = 5
    clip: ClipSpec = Field(default_factory=ClipSpec)

    def pool_id(self) -> str:
        """How activations are pooled, for cache keys (``pool`` alone unless ``token_pool`` is not the default)."""
        return self.pool if self.token_pool == "cls" else f"{self.pool}, tokens {self.token_pool}"


class Study(_Table):
    title: str = "xai-report study"
    description: str = ""
    seed: int = 0
    device: str = "auto"
    offline: bool = False
    output_dir: str = "output/default"
    site_dir: str = "site_src"
    benchmarks: str = ""
    """Folder of ``benchmarks/bench.py --json`` results shown on the methodology page (optional)."""
    site_url: str = ""
    """Where the site will be served (``https://user.github.io/repo/``): MkDocs' ``site_url`` (canonical links)."""
    repo_url: str = ""
    """The study's repository, linked from every page's header (MkDocs' ``repo_url``)."""
    publish_raw: bool = False
    """Copy the raw results (maps, segments, CSVs, ``results.json``) under the site (``raw/``) so pages link them."""
    claims: str = ""
    """Optional TOML file of claims to test against the results (:mod:`xai_report.config.claims`): the Claims page."""
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    dissection: DissectionConfig = Field(default_factory=DissectionConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    # Set by load_study, never read from the file (private attributes are not keys).
    _base_dir: Path = PrivateAttr(default=Path("."))
    _source_file: str = PrivateAttr(default="")

    @property
    def base_dir(self) -> Path:
        """The study file's folder: relative paths in the file are relative to it."""
        return self._base_dir

    @property
    def source_file(self) -> str:
        return self._source_file

    def set_source(self, file: Path) -> None:
        """Record the file the study was read from; its folder is what relative paths are relative to."""
        self._base_dir = file.resolve().parent
        self._source_file = str(file)

    def path(self, value: str) -> Path:
        """Resolve a path from the config against the study file's folder (an absolute one is returned as is)."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self._base_dir / p).resolve()

    @property
    def output_path(self) -> Path:
        return self.path(self.output_dir)

    @property
    def site_path(self) -> Path:
        return self.path(self.site_dir)
