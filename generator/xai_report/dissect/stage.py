"""The dissection stage: CLIP-Dissect over the study's classifiers, cached artifact by artifact.

Oikarinen & Weng, "CLIP-Dissect: Automatic Description of Neuron Representations in Deep Vision
Networks", ICLR 2023. The stage:

1. lists the probe images of every probe folder (:mod:`.probe`; copies and unreadable files are skipped,
   each with a one-line reason);
2. stores each image's CLIP image feature and, per model, the pooled activations of every dissected layer
   (:mod:`.features`; with ``--workers`` or ``--scheduler``, block by block on the workers: :mod:`.remote`),
   and the CLIP text features of the concept list (:mod:`.concepts`);
3. per model and layer, labels every neuron with its top-5 concepts by soft-WPMI and computes the layer's
   null threshold (:mod:`.labelling`, :mod:`.null`); labels the same layer of the model's randomised twin
   (re-initialised weights, :mod:`xai_report.models.randomise`) for the second threshold, and both on two halves
   of the probe set for stability and held-out precision (:mod:`.sanity`, :mod:`.quality`); the per-neuron table
   adds importance (:mod:`.neurons`, :mod:`.importance`);
4. per neuron, draws a strip of its top activating images with its activation map over them
   (Bau et al., Network Dissection, CVPR 2017; :mod:`.strips`);
5. checks itself, and the twin, on ``fc`` (:mod:`.self_check`), categorises the labels (:mod:`.categories`), writes the CSVs
   (:mod:`.exports`) and assembles the ``dissection`` section of ``results.json`` (:mod:`.section`).

With ``concepts_source = "labels"`` no CLIP is loaded: the concepts and ``P`` come from the probe images'
ImageNet classes and WordNet (:mod:`.label_concepts`), and the self-check counts class-or-ancestor matches too.

Compute times go to ``stats`` (``timings.json``), so two builds give byte-identical results.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Sequence

import torch

from ..activations import output_shapes
from ..config import Study
from ..data import load_rgb, prepare, read_concepts
from ..errors import BadInput
from ..models import LoadedClip, LoadedModel
from ..models.tokens import on_grid
from ..stage import Stage
from ..store import ArtifactStore
from ..text import unique_slug
from . import remote, sanity, self_check, strips
from .categories import DEFAULT_CATEGORIES, label_categories
from .classifier import classifier_name
from .concepts import ConceptSet, concept_set
from .exports import write_csvs
from .features import BlockDone
from .label_concepts import LabelVocabulary, label_concept_set, labelled_probe, read_vocabulary
from .labelling import WPMI, Labeller
from .neurons import neuron_rows
from .probe import ProbeImage, list_probe, probe_sha
from .sanity import Twin
from .setup import set_up
from .section import DissectedModel, build_section

LABELS_ID = "labels"
"""What stands for the CLIP model's id in the label cache keys and ``results.json`` with the labels source."""
LABELS_CODE = (label_concept_set,)
RESERVED_SLUGS = {"index", "compare", "assets"}
"""Page names the dissection section uses itself; a model or layer slug never takes one."""


class DissectionStage(Stage):
    """CLIP-Dissect labels, strips and summaries for every dissected model.

    ``models`` and ``clip`` may be given already loaded (tests inject tiny ones); the others are loaded from
    the config's (already absolute) paths.
    """

    name = "dissection"

    @classmethod
    def enabled(cls, study: Study) -> bool:
        return study.dissection.enabled

    def __init__(self, study: Study, store: ArtifactStore, device: torch.device | None = None, *,
                 models: dict[str, LoadedModel] | None = None, clip: LoadedClip | None = None):
        super().__init__(study, store, device)
        self.cfg = study.dissection
        self.vocab: LabelVocabulary | None = None
        if self.cfg.concepts_source == "labels":
            self.vocab, self.synsets_above = read_vocabulary(Path(self.cfg.wordnet_classes),
                                                             Path(self.cfg.wordnet_ancestors),
                                                             self.cfg.min_classes, self.cfg.max_classes)
        networks = set_up(study, self.device, models, clip)
        self.clip, self.models, self.twin_of = networks.clip, networks.models, networks.twin_of
        self.model_ids = networks.model_ids
        taken = set(RESERVED_SLUGS)
        self.slugs = {key: unique_slug(key, taken) for key in self.models}
        self.features = networks.features(self.cfg, self.cache, self.timings, self.device)

    def run(self) -> dict:
        start = time.perf_counter()
        probe, skipped = list_probe(self.cfg.probe)
        if self.vocab is not None:
            probe = labelled_probe(self.vocab, probe, skipped)
        probe = self.features.ensure(probe, skipped, spread=self._spread if self.engine is not None else None)
        if not probe:
            raise BadInput(f"dissection.probe: no readable probe image in {', '.join(self.cfg.probe)}")
        sha = probe_sha(probe)
        if self.vocab is not None:
            labeller = self._labeller(LABELS_ID, None, sha, code=LABELS_CODE)
            concepts = label_concept_set(self.vocab, probe, WPMI["a"])
            dissected = [self._dissect_model(key, probe, labeller, concepts) for key in self.models]
            concept_category = self.vocab.categories(self.synsets_above)
        else:
            labeller = self._labeller(self.clip.clip_id, self.features.image_features(probe), sha)
            concepts = self._concepts("concepts", read_concepts(Path(self.cfg.concepts)))
            categories = self._concepts("categories", list(DEFAULT_CATEGORIES.values()))
            dissected = [self._dissect_model(key, probe, labeller, concepts) for key in self.models]
            concept_category = label_categories(concepts.words, concepts.feats, categories.feats,
                                                (r["label"] for d in dissected for r in d.rows))
        for d in dissected:
            d.rows = [{**r, "category": concept_category.get(r["label"], "other")} for r in d.rows]
            d.files = write_csvs(self.export, d.slug, d.rows, d.check)
        section = build_section(self.cfg, self.study.seed, self.clip.clip_id if self.clip else LABELS_ID, probe, sha, concepts, dissected,
                                concept_category, skipped)
        self.stats.seconds = time.perf_counter() - start
        return section

    def _spread(self, todo: list[Sequence[ProbeImage]]) -> Iterator[BlockDone]:
        """The probe blocks ``todo`` computed on the engine's workers (:mod:`.remote`), stored here as they come."""
        ident = remote.identity(self.study, self.model_ids)
        jobs = [remote.BlockJob(self.study, ident, list(block), str(self.store.root), self.engine.threads_per_worker)
                for block in todo]
        return remote.spread_blocks(self.cache, todo, self.engine, jobs)

    def _labeller(self, clip_id: str, image_feats: torch.Tensor | None, sha: str, code: tuple = ()) -> Labeller:
        return Labeller(self.cache, self.timings, self.device, seed=self.study.seed, top_k=self.cfg.top_k,
                        pool=self.cfg.pool_id(), clip_id=clip_id, image_feats=image_feats, probe_sha=sha, code=code)

    def _concepts(self, purpose: str, words: list[str]) -> ConceptSet:
        return concept_set(self.cache, self.timings, self.device, self.clip, purpose, words)

    def _dissect_model(self, key: str, probe: list[ProbeImage], labeller: Labeller,
                       concepts: ConceptSet) -> DissectedModel:
        """Labels, semantic flags, importance and strips of every neuron of one model, and its self-check."""
        model, model_id = self.models[key], self.model_ids[key]
        acts = self.features.activations(key, probe)
        twin_key = self.twin_of[key]
        twin = Twin(twin_key, self.model_ids[twin_key], self.features.activations(twin_key, probe))
        layer_slugs: set[str] = set(RESERVED_SLUGS)
        n_strip = min(self.cfg.strip_images, len(probe))
        x = prepare(load_rgb(probe[0].path), model.preprocess).tensor.to(self.device)
        spatial = {layer for layer, shape in output_shapes(model.module, self.cfg.layers, x).items()
                   if len(shape) == 4 or on_grid(shape, tuple(x.shape[-2:]))}  # token layers: on the patch grid
        layers, rows = [], []
        for layer in self.cfg.layers:
            art = labeller.label_layer(key, model_id, layer, acts[layer], concepts, with_null=True)
            tests = sanity.thresholds(labeller, layer, art.meta, twin, concepts)
            layer_rows = neuron_rows(model, layer, acts, art.meta["labels"], tests.thresholds, self.cfg.pool, n_strip)
            quality = sanity.layer_quality(labeller, key, model_id, layer, acts[layer], layer_rows, tests, twin, concepts)
            layers.append({"name": layer, "slug": unique_slug(layer, layer_slugs), "threshold": art.meta["threshold"],
                           "spatial": layer in spatial, "quality": quality})
            rows += layer_rows
        strip_paths = self._strips(key, probe, layers, rows)
        check = self._self_check(key, model_id, acts, labeller, concepts, rows)
        rows = [{**r, "strip": strip_paths[(r["layer"], r["unit"])], **self_check.unit_fields(check, r)} for r in rows]
        twin_check = self._self_check(key, twin.model_id, twin.acts, labeller, concepts, [], who=twin.key)
        spec = self.study.models.get(key)
        label = spec.label if spec and spec.label else key
        return DissectedModel(key, self.slugs[key], label, model, layers, rows, check, twin_check)

    def _self_check(self, key: str, model_id: dict, acts: dict[str, torch.Tensor], labeller: Labeller,
                    concepts: ConceptSet, rows: list[dict], who: str | None = None) -> dict | None:
        """The fc self-check of model ``key`` (or, with ``who``, of its randomised twin, labelled here), if it has
        a classifier with one output per class (and, with the labels source, the 1000 ImageNet classes)."""
        model, fc = self.models[key], classifier_name(self.models[key])
        if not self_check.applies(model, acts, fc):
            return None
        if self.vocab is not None:
            if acts[fc].shape[1] != self.vocab.n_classes:
                return None
            return self_check.labels_self_check(labeller, who or key, model_id, fc, acts, concepts, self.vocab, rows)
        classes = self._concepts(f"classes {key}", list(model.class_names))
        return self_check.self_check(labeller, who or key, model_id, model, fc, acts, classes)

    def _strips(self, key: str, probe: list[ProbeImage], layers: list[dict], rows: list[dict]) -> dict[tuple[str, int], str]:
        """Draw the missing strips, export all to ``dissection/strips/<model>/<layer>_<unit>.jpg``."""
        keys = {(r["layer"], r["unit"]): self.key("dissect_strip", code=strips.CODE,
                                                  model=self.model_ids[key], layer=r["layer"], unit=r["unit"],
                                                  images=[probe[i].sha256 for i in r["top_images"]],
                                                  params=strips.PARAMS)
                for r in rows}
        missing = [r for r in rows if self.store.get(keys[(r["layer"], r["unit"])]) is None]
        if missing:
            spatial = {info["name"] for info in layers if info["spatial"]}
            jpegs, each = strips.draw_strips(self.models[key], [img.path for img in probe], spatial, missing,
                                             self.cfg.batch_size, self.device, f"dissection: strips {key}")
            for unit_key, jpeg in jpegs.items():
                self.save(keys[unit_key], {"kind": "dissect_strip", "seconds": each}, {"strip.jpg": jpeg})
        slug_of = {info["name"]: info["slug"] for info in layers}
        folder = f"dissection/strips/{self.slugs[key]}"
        paths = {}
        for (layer, unit), art_key in keys.items():
            art = self.lookup(art_key)
            self.add_time(f"strips {key}", art.meta["seconds"], "strips")
            paths[(layer, unit)] = self.export(f"{folder}/{slug_of[layer]}_{unit}.jpg", art.file("strip.jpg").read_bytes())
        keep = {Path(p).name for p in paths.values()}
        for path in (self.out / folder).glob("*.jpg"):  # strips of neurons or layers no longer dissected
            if path.name not in keep:
                path.unlink()
        return paths
