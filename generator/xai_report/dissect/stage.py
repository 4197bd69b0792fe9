"""The dissection stage: CLIP-Dissect over the study's classifiers, cached artifact by artifact.

Oikarinen & Weng, "CLIP-Dissect: Automatic Description of Neuron Representations in Deep Vision
Networks", ICLR 2023. The stage:

1. lists the probe images of every probe folder (byte-identical copies and unreadable files are skipped,
   each with a one-line reason);
2. per image, stores its CLIP image feature and, per model, the pooled activations of every dissected
   layer (one artifact per image and model, so a changed image recomputes only its own; the missing ones
   are computed in batches);
3. stores the CLIP text features of the concept list (one artifact per CLIP model and list content);
4. per model and layer, runs soft-WPMI over the whole layer and keeps each neuron's top-5 concepts and the
   layer's null threshold (95th percentile of the top-1 scores after shuffling each neuron's activations
   across images, ``summaries.null_threshold``); a label at or above it counts as semantic;
5. per neuron, draws a strip of its top activating images with its activation map over them
   (Bau et al., Network Dissection, CVPR 2017; see ``strips``);
6. checks itself on ``fc`` (each output neuron's true concept is its class name), and writes summaries per
   model and across models, CSV files and the home page's headlines.

It returns the ``dissection`` section of ``results.json``; compute times go to ``stats`` (``timings.json``),
so two builds give byte-identical results.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from .. import __version__
from ..attribution.stage import StageStats, slugify
from ..config import Study
from ..data import list_images, load_rgb, prepare, read_concepts
from ..errors import BadInput, ConfigError
from ..models import LoadedClip, LoadedModel, load_clip, load_model, pick_device, resolve_layer
from ..stage import Stage
from ..store import Artifact, ArtifactStore, bytes_sha256, canonical_json, content_key, write_atomic
from ..text import display_name
from . import report, strips
from .activations import activation_maps, collect_activations
from .clip_text import encode_concepts, encode_images
from .summaries import DEFAULT_CATEGORIES, activation_importance, categorise, fc_importance, null_threshold
from .wpmi import clip_similarity, constant_neurons, label_neurons, soft_wpmi, top_images

WPMI = {"a": 10.0, "lam": 1.0, "p_start": 0.998, "p_end": 0.97, "min_prob": 1e-7}
"""The reference code's soft-WPMI defaults (``similarity.soft_wpmi``); ``top_k`` comes from the config."""
NULL = {"quantile": 0.95, "shuffles": 1}
"""Null threshold: one shuffle of a whole layer already gives as many null scores as the layer has neurons."""
LABELS_K = 5
CLASSIFIER = "fc"
"""The layer whose outputs are the class logits (torchvision ResNets): the self-check's and importance's."""
TEXT_BATCH = 256
RESERVED_SLUGS = {"index", "compare", "assets"}
"""Page names the dissection section uses itself; a model or layer slug never takes one."""
CITATION = ("Oikarinen & Weng, \"CLIP-Dissect: Automatic Description of Neuron Representations in Deep Vision "
            "Networks\", ICLR 2023")
STRIPS_CITATION = ("Bau et al., \"Network Dissection: Quantifying Interpretability of Deep Visual "
                   "Representations\", CVPR 2017")


@dataclass(frozen=True)
class ProbeImage:
    path: Path
    name: str
    """``<folder>/<file>``, printable (a non-UTF-8 byte becomes U+FFFD)."""
    sha256: str


@dataclass(frozen=True)
class ConceptSet:
    purpose: str
    words: list[str]
    sha256: str
    feats: torch.Tensor
    """CLIP text features, unnormalised, one row per word."""


def _tty() -> bool:
    return sys.stderr.isatty()


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _r(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


def unique_slug(name: str, taken: set[str]) -> str:
    """A page id for ``name`` that is not in ``taken`` (``layer4[-1]`` and ``layer4.1`` both slugify to
    ``layer4-1``; the second becomes ``layer4-1-2``); adds it to ``taken``."""
    base = slugify(name).lower()
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


class DissectionStage(Stage):
    """Computes (or reuses) CLIP-Dissect labels, strips and summaries for every dissected model."""

    name = "dissection"

    @classmethod
    def enabled(cls, study: Study) -> bool:
        return study.dissection.enabled

    def __init__(self, study: Study, store: ArtifactStore, models: dict[str, LoadedModel] | None = None,
                 clip: LoadedClip | None = None):
        self.study = study
        self.cfg = study.dissection
        self.store = store
        self.out = study.output_path
        self.stats = StageStats()
        self.device = pick_device(study.device)
        # CLIP first: it is this stage's own dependency, and the file most likely missing offline.
        self.clip = clip or self._load_clip()
        self.clip.model.to(self.device).eval()
        models = models or {}
        self.models = {key: models.get(key) or self._load_model(key) for key in self.cfg.models}
        for model in self.models.values():
            model.module.to(self.device).eval()
        self.collect = {key: self._layers_to_collect(key, m) for key, m in self.models.items()}
        self.model_keys = {key: {"weights": m.weights_id, "preprocess": m.preprocess.to_dict()}
                           for key, m in self.models.items()}
        taken = set(RESERVED_SLUGS)
        self.slugs = {key: unique_slug(key, taken) for key in self.models}
        self._counted: set[str] = set()
        self._similarity: dict[str, torch.Tensor] = {}

    # -- loading -------------------------------------------------------------------------------

    def _load_clip(self) -> LoadedClip:
        spec = self.cfg.clip
        file = str(self.study.path(spec.file)) if spec.file else ""
        return load_clip(spec.arch, spec.pretrained, file=file, offline=self.study.offline)

    def _load_model(self, key: str) -> LoadedModel:
        spec = self.study.models[key]
        files = {"file": str(self.study.path(spec.file))} if spec.file else {}  # relative to the study file
        return load_model(spec.loader_spec() | files, offline=self.study.offline)

    def _layers_to_collect(self, key: str, model: LoadedModel) -> list[str]:
        """The configured layers (checked now, before any compute), plus the classifier for the self-check."""
        for layer in self.cfg.layers:
            try:
                resolve_layer(model.module, layer)
            except ConfigError as exc:
                raise ConfigError(f"dissection.layers: {exc} (model {key})") from None
        extra = [CLASSIFIER] if _classifier(model) is not None and CLASSIFIER not in self.cfg.layers else []
        return list(dict.fromkeys(self.cfg.layers)) + extra

    # -- the store -----------------------------------------------------------------------------

    def _put(self, key: str, meta: dict, files: dict | None = None) -> Artifact:
        self.stats.computed += 1
        self._counted.add(key)
        return self.store.put(key, meta, files)

    def _get(self, key: str) -> Artifact | None:
        """A stored artifact; counts as reused the first time this build reads one it did not compute."""
        found = self.store.get(key)
        if found is not None and key not in self._counted:
            self.stats.reused += 1
            self._counted.add(key)
        return found

    def _time(self, part: str, seconds: float, count_name: str, count: int = 1) -> None:
        """Add an artifact's compute seconds (as measured when it was made) to a part of the stage."""
        entry = self.stats.timings.setdefault(part, {"seconds": 0.0, count_name: 0})
        entry["seconds"] = round(entry["seconds"] + seconds, 4)
        entry[count_name] = entry.get(count_name, 0) + count

    # -- probe images --------------------------------------------------------------------------

    def list_probe(self) -> tuple[list[ProbeImage], list[dict]]:
        """Probe images of every folder in config order; byte-identical copies and unreadable files skipped.

        A copy would count twice among a neuron's top images, weighting that image double in soft-WPMI.
        """
        images, skipped, seen = [], [], {}
        for folder_name in self.cfg.probe:
            folder = self.study.path(folder_name)
            for path in list_images(folder):
                name = f"{display_name(folder)}/{display_name(path)}"
                try:
                    sha = bytes_sha256(path.read_bytes())
                except OSError as exc:
                    skipped.append({"file": name, "reason": f"cannot be read ({exc.strerror})"})
                    continue
                if sha in seen:
                    skipped.append({"file": name, "reason": f"same bytes as {seen[sha]}; a copy would count twice"})
                    continue
                seen[sha] = name
                images.append(ProbeImage(path, name, sha))
        return images, skipped

    def _clip_image_key(self, sha: str) -> str:
        return content_key(kind="clip_image", clip=self.clip.clip_id, image=sha, version=__version__)

    def _acts_key(self, key: str, sha: str) -> str:
        return content_key(kind="dissect_activations", model=self.model_keys[key], layers=self.collect[key],
                           pool=self.cfg.pool, image=sha, version=__version__)

    def _missing(self, img: ProbeImage) -> bool:
        keys = [self._clip_image_key(img.sha256)] + [self._acts_key(k, img.sha256) for k in self.models]
        return any(self.store.get(k) is None for k in keys)

    def ensure_features(self, probe: list[ProbeImage], skipped: list[dict]) -> list[ProbeImage]:
        """Compute the missing per-image artifacts in batches; returns the readable probe images.

        An image with all its artifacts was readable when they were made, so only images with a missing
        artifact are decoded; an unreadable one never gets an artifact and is skipped on every build.
        """
        todo = [img for img in probe if self._missing(img)]
        unreadable: set[str] = set()
        bar = tqdm(total=len(todo), desc="dissection: probe features", unit="image", disable=None)
        for batch in _chunks(todo, self.cfg.batch_size):
            decoded = self._decode(batch, skipped)
            readable = {img.sha256 for img, _ in decoded}
            unreadable.update(img.sha256 for img in batch if img.sha256 not in readable)
            if decoded:
                self._compute_clip_images(decoded)
                for key in self.models:
                    self._compute_activations(key, decoded)
            bar.update(len(batch))
        bar.close()
        return [img for img in probe if img.sha256 not in unreadable]

    @staticmethod
    def _decode(batch: Sequence[ProbeImage], skipped: list[dict]) -> list[tuple[ProbeImage, Image.Image]]:
        decoded = []
        for img in batch:
            try:
                decoded.append((img, load_rgb(img.path)))
            except BadInput as exc:
                reason = str(exc)
                prefix = f"{display_name(img.path)}: "
                skipped.append({"file": img.name, "reason": reason[len(prefix):] if reason.startswith(prefix) else reason})
        return decoded

    def _compute_clip_images(self, decoded: list[tuple[ProbeImage, Image.Image]]) -> None:
        todo = [(img, pil) for img, pil in decoded if self.store.get(self._clip_image_key(img.sha256)) is None]
        if not todo:
            return
        start = time.perf_counter()
        feats = encode_images(self.clip.model, self.clip.preprocess, [pil for _, pil in todo], device=self.device,
                              batch_size=len(todo))
        each = (time.perf_counter() - start) / len(todo)
        for (img, _), feat in zip(todo, feats):
            self._put(self._clip_image_key(img.sha256), {"kind": "clip_image", "seconds": each},
                      {"features.npy": feat.numpy()})

    def _compute_activations(self, key: str, decoded: list[tuple[ProbeImage, Image.Image]]) -> None:
        todo = [(img, pil) for img, pil in decoded if self.store.get(self._acts_key(key, img.sha256)) is None]
        if not todo:
            return
        model, layers = self.models[key], self.collect[key]
        start = time.perf_counter()
        x = torch.cat([prepare(pil, model.preprocess).tensor for _, pil in todo])
        acts = collect_activations(model.module, layers, [x], pool=self.cfg.pool, device=self.device)
        each = (time.perf_counter() - start) / len(todo)
        for i, (img, _) in enumerate(todo):
            files = {f"{j}.npy": acts[layer][i].numpy() for j, layer in enumerate(layers)}
            self._put(self._acts_key(key, img.sha256), {"kind": "dissect_activations", "layers": layers,
                                                        "seconds": each}, files)

    def image_features(self, probe: list[ProbeImage]) -> torch.Tensor:
        """CLIP image features of the probe set (images x embed_dim), from the store."""
        rows = []
        for img in probe:
            art = self._get(self._clip_image_key(img.sha256))
            self._time("clip image features", art.meta["seconds"], "images")
            rows.append(art.array("features.npy"))
        return torch.from_numpy(np.stack(rows))

    def activations(self, key: str, probe: list[ProbeImage]) -> dict[str, torch.Tensor]:
        """``{layer: images x neurons}`` of one model on the probe set, from the store."""
        layers = self.collect[key]
        cols: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
        for img in probe:
            art = self._get(self._acts_key(key, img.sha256))
            self._time(f"activations {key}", art.meta["seconds"], "images")
            for j, layer in enumerate(layers):
                cols[layer].append(art.array(f"{j}.npy"))
        return {layer: torch.from_numpy(np.stack(c)) for layer, c in cols.items()}

    # -- concepts ------------------------------------------------------------------------------

    def concept_set(self, purpose: str, words: list[str]) -> ConceptSet:
        """CLIP text features of ``words`` (the bare words, as in the reference code), cached by content."""
        sha = bytes_sha256(canonical_json(words).encode())
        key = content_key(kind="clip_text", clip=self.clip.clip_id, concepts=sha, version=__version__)
        art = self._get(key)
        if art is None:
            start = time.perf_counter()
            feats = encode_concepts(self.clip.model, self.clip.tokenizer, words, device=self.device,
                                    batch_size=TEXT_BATCH, progress=_tty())
            art = self._put(key, {"kind": "clip_text", "purpose": purpose, "count": len(words),
                                  "seconds": round(time.perf_counter() - start, 3)}, {"features.npy": feats.numpy()})
        self._time(f"text features {purpose}", art.meta["seconds"], "concepts", len(words))
        return ConceptSet(purpose, words, sha, torch.from_numpy(art.array("features.npy")))

    def similarity(self, cs: ConceptSet, image_feats: torch.Tensor) -> torch.Tensor:
        """``P`` (images x concepts), computed once per concept set and shared by every model and layer."""
        if cs.sha256 not in self._similarity:
            self._similarity[cs.sha256] = clip_similarity(image_feats, cs.feats)
        return self._similarity[cs.sha256]

    # -- labels --------------------------------------------------------------------------------

    def label_layer(self, key: str, layer: str, acts: torch.Tensor, cs: ConceptSet, image_feats: torch.Tensor,
                    probe_sha: str, with_null: bool) -> Artifact:
        """Top-5 concepts of every neuron of one whole layer (soft-WPMI), and its null threshold."""
        null = {**NULL, "seed": self.study.seed} if with_null else None
        params = {"top_k": self.cfg.top_k, **WPMI, "labels": LABELS_K, "null": null}
        art_key = content_key(kind="dissect_labels", model=self.model_keys[key], layer=layer, pool=self.cfg.pool,
                              probe=probe_sha, concepts=cs.sha256, clip=self.clip.clip_id, params=params,
                              version=__version__)
        art = self._get(art_key)
        if art is None:
            art = self._put(art_key, self._compute_labels(acts, cs, image_feats, null, layer))
        self._time(f"soft-wpmi {key} {layer} ({cs.purpose})", art.meta["seconds"], "neurons", acts.shape[1])
        if with_null:
            self._time(f"null threshold {key} {layer}", art.meta["null_seconds"], "neurons", acts.shape[1])
        return art

    def _compute_labels(self, acts: torch.Tensor, cs: ConceptSet, image_feats: torch.Tensor, null: dict | None,
                        layer: str) -> dict:
        p = self.similarity(cs, image_feats)
        kwargs = {"top_k": self.cfg.top_k, "device": self.device, **WPMI}
        start = time.perf_counter()
        labels = label_neurons(soft_wpmi(p, acts, **kwargs), cs.words, k=LABELS_K)
        wpmi_s = time.perf_counter() - start
        threshold = None
        if null is not None:
            threshold = null_threshold(p, acts, quantile=null["quantile"], n_shuffles=null["shuffles"],
                                       seed=null["seed"], **kwargs)
        return {
            "kind": "dissect_labels",
            "layer": layer,
            "labels": [[lab.top_concepts, [_r(s) for s in lab.top_scores]] for lab in labels],
            "threshold": None if threshold is None else _r(threshold),
            "seconds": round(wpmi_s, 3),
            "null_seconds": round(time.perf_counter() - start - wpmi_s, 3),
        }

    # -- the stage -----------------------------------------------------------------------------

    def run(self) -> dict:
        start = time.perf_counter()
        probe, skipped = self.list_probe()
        probe = self.ensure_features(probe, skipped)
        if not probe:
            raise BadInput(f"dissection.probe: no readable probe image in {', '.join(self.cfg.probe)}")
        probe_sha = bytes_sha256(canonical_json([img.sha256 for img in probe]).encode())
        image_feats = self.image_features(probe)
        concepts_path = self.study.path(self.cfg.concepts)
        concepts = self.concept_set("concepts", read_concepts(concepts_path))
        categories = self.concept_set("categories", list(DEFAULT_CATEGORIES.values()))
        dissected = []
        for key in self.models:
            dissected.append(self._dissect_model(key, probe, probe_sha, image_feats, concepts))
        concept_category = self._categories(concepts, categories, [r for _, rows in dissected for r in rows])
        models = [self._model_entry(entry, rows, concept_category) for entry, rows in dissected]
        rows_of = {entry["key"]: rows for entry, rows in dissected}
        section = self._section(probe, probe_sha, concepts, concepts_path, models, rows_of, skipped)
        self.stats.seconds = time.perf_counter() - start
        return section

    def _dissect_model(self, key: str, probe: list[ProbeImage], probe_sha: str, image_feats: torch.Tensor,
                       concepts: ConceptSet) -> tuple[dict, list[dict]]:
        """Labels, semantic flags, importance and strips of every neuron of one model."""
        model = self.models[key]
        acts = self.activations(key, probe)
        layer_slugs: set[str] = set(RESERVED_SLUGS)
        n_strip = min(self.cfg.strip_images, len(probe))
        spatial = self._spatial_layers(key, probe[0])
        layers, rows = [], []
        for layer in self.cfg.layers:
            art = self.label_layer(key, layer, acts[layer], concepts, image_feats, probe_sha, with_null=True)
            info = {"name": layer, "slug": unique_slug(layer, layer_slugs), "threshold": art.meta["threshold"],
                    "spatial": layer in spatial}
            layer_rows = self._layer_rows(key, layer, acts, art, top_images(acts[layer], n_strip))
            layers.append(info)
            rows += layer_rows
        strip_paths = self.strips(key, probe, layers, rows)
        for r in rows:
            r["strip"] = strip_paths[(r["layer"], r["unit"])]
        entry = {"key": key, "model": model, "layers": layers,
                 "self_check": self._self_check(key, acts, probe_sha, image_feats, rows)}
        return entry, rows

    def _layer_rows(self, key: str, layer: str, acts: dict[str, torch.Tensor], art: Artifact,
                    tops: torch.Tensor) -> list[dict]:
        a = acts[layer]
        dead = constant_neurons(a).tolist()
        scores = torch.tensor([s[0] for _, s in art.meta["labels"]])
        importance, kind = self._importance(key, layer, acts, scores)
        order = sorted(range(a.shape[1]), key=lambda u: (-float(importance[u]), u))
        rank = {u: i + 1 for i, u in enumerate(order)}
        mean = a.mean(dim=0).tolist()
        threshold = art.meta["threshold"]
        rows = []
        for unit, (names, vals) in enumerate(art.meta["labels"]):
            rows.append({
                "layer": layer, "unit": unit, "label": names[0], "similarity": vals[0],
                "runners_up": [[c, s] for c, s in zip(names[1:], vals[1:])],
                # A dead (constant) neuron's "top" images are just the first ones: its label means nothing.
                "semantic": bool(vals[0] >= threshold and not dead[unit]),
                "dead": bool(dead[unit]),
                "mean_activation": _r(mean[unit]),
                "importance": _r(importance[unit]), "importance_kind": kind, "rank": rank[unit],
                "top_images": tops[:, unit].tolist(),
            })
        return rows

    def _importance(self, key: str, layer: str, acts: dict[str, torch.Tensor],
                    scores: torch.Tensor) -> tuple[torch.Tensor, str]:
        """``fc_importance`` for the layer that feeds the classifier directly (checked numerically: the
        classifier of its mean-pooled activations reproduces the logits), ``activation_importance`` else."""
        fc = _classifier(self.models[key])
        a = acts[layer]
        if layer != CLASSIFIER and fc is not None and self._feeds(fc, a, acts.get(CLASSIFIER)):
            return fc_importance(a, fc.weight.detach().float().cpu()), "classifier weight"
        return activation_importance(a, scores), "activation x score"

    def _feeds(self, fc: nn.Linear, a: torch.Tensor, logits: torch.Tensor | None) -> bool:
        if logits is None or self.cfg.pool != "mean" or a.shape[1] != fc.in_features:
            return False
        with torch.no_grad():
            predicted = torch.nn.functional.linear(a, fc.weight.detach().float().cpu(),
                                                   None if fc.bias is None else fc.bias.detach().float().cpu())
        tol = 1e-3 * max(float(logits.abs().max()), 1e-6)
        return bool(torch.allclose(predicted, logits, rtol=1e-3, atol=tol))

    def _self_check(self, key: str, acts: dict[str, torch.Tensor], probe_sha: str, image_feats: torch.Tensor,
                    rows: list[dict]) -> dict | None:
        """The paper's headline measure: label ``fc`` with the model's own class names as the concept set;
        a neuron is right when its top-1 label is its class name (within the top 5, for the looser count).

        Names are compared as text, so the two ImageNet classes both named "crane" count either one.
        Reuses the cached image features and activations; only the class names' text features are new.
        """
        model = self.models[key]
        if CLASSIFIER not in acts or acts[CLASSIFIER].shape[1] != len(model.class_names):
            return None
        classes = self.concept_set(f"classes {key}", list(model.class_names))
        art = self.label_layer(key, CLASSIFIER, acts[CLASSIFIER], classes, image_feats, probe_sha, with_null=False)
        per_unit = []
        for unit, (names, _) in enumerate(art.meta["labels"]):
            own = model.class_names[unit]
            per_unit.append({"unit": unit, "class": own, "label": names[0], "top5": names,
                             "rank": names.index(own) + 1 if own in names else None})
        n = len(per_unit)
        top1 = sum(1 for u in per_unit if u["rank"] == 1)
        top5 = sum(1 for u in per_unit if u["rank"] is not None)
        for r in rows:
            if r["layer"] == CLASSIFIER:
                r["class_name"] = per_unit[r["unit"]]["class"]
                r["self_check_rank"] = per_unit[r["unit"]]["rank"]
        return {"layer": CLASSIFIER, "neurons": n, "top1_count": top1, "top5_count": top5, "top1": _r(top1 / n),
                "top5": _r(top5 / n), "chance_top1": _r(1 / n), "chance_top5": _r(min(LABELS_K, n) / n),
                "units": per_unit}

    def _categories(self, concepts: ConceptSet, categories: ConceptSet, rows: list[dict]) -> dict[str, str]:
        """Zero-shot CLIP category of every label in use: the category prompt whose text feature is closest
        to the concept word's (``summaries.categorise`` over ``DEFAULT_CATEGORIES``)."""
        used = sorted({r["label"] for r in rows})
        index = {w: i for i, w in enumerate(concepts.words)}
        feats = concepts.feats[[index[w] for w in used]] if used else concepts.feats[:0]
        names, _ = categorise(feats, categories.feats, list(DEFAULT_CATEGORIES))
        return dict(zip(used, names))

    # -- strips --------------------------------------------------------------------------------

    def _strip_key(self, key: str, layer: str, unit: int, shas: list[str]) -> str:
        return content_key(kind="dissect_strip", model=self.model_keys[key], layer=layer, unit=unit, images=shas,
                           params=strips.PARAMS, version=__version__)

    def strips(self, key: str, probe: list[ProbeImage], layers: list[dict], rows: list[dict]) -> dict[tuple[str, int], str]:
        """Draw the missing strips, export all to ``dissection/strips/<model>/<layer>_<unit>.jpg``."""
        keys = {(r["layer"], r["unit"]): self._strip_key(key, r["layer"], r["unit"],
                                                          [probe[i].sha256 for i in r["top_images"]]) for r in rows}
        missing = [r for r in rows if self.store.get(keys[(r["layer"], r["unit"])]) is None]
        if missing:
            self._draw_strips(key, probe, layers, missing, keys)
        slug_of = {info["name"]: info["slug"] for info in layers}
        folder = self.out / "dissection" / "strips" / self.slugs[key]
        paths = {}
        for (layer, unit), art_key in keys.items():
            art = self._get(art_key)
            self._time(f"strips {key}", art.meta["seconds"], "strips")
            paths[(layer, unit)] = _export(folder / f"{slug_of[layer]}_{unit}.jpg", art.file("strip.jpg").read_bytes(),
                                           self.out)
        _remove_other_files(folder, {Path(p).name for p in paths.values()})
        return paths

    def _draw_strips(self, key: str, probe: list[ProbeImage], layers: list[dict], missing: list[dict],
                     keys: dict) -> None:
        """One pass over the images some missing strip needs: thumbnails and the wanted units' maps."""
        model = self.models[key]
        spatial = {info["name"] for info in layers if info["spatial"]}
        wanted: dict[tuple[str, int], list[int]] = {}  # (layer, image) -> units whose strip shows the image
        for r in missing:
            for i in r["top_images"]:
                wanted.setdefault((r["layer"], i), []).append(r["unit"])
        needed = sorted({i for r in missing for i in r["top_images"]})
        thumbs, maps = {}, {}
        start = time.perf_counter()
        for batch in tqdm(list(_chunks(needed, self.cfg.batch_size)), desc=f"dissection: strips {key}", disable=None):
            prepared = [prepare(load_rgb(probe[i].path), model.preprocess) for i in batch]
            thumbs.update({i: strips.thumbnail(p.rgb) for i, p in zip(batch, prepared)})
            x = torch.cat([p.tensor for p in prepared]).to(self.device)
            for layer in spatial:
                self._collect_maps(model, layer, x, batch, wanted, maps)
        jpegs = {}
        for r in missing:
            imgs, unit, layer = r["top_images"], r["unit"], r["layer"]
            unit_maps = torch.stack([maps[(layer, unit, i)] for i in imgs]) if layer in spatial else None
            jpegs[(layer, unit)] = strips.strip_jpeg([thumbs[i] for i in imgs], unit_maps)
        each = round((time.perf_counter() - start) / len(missing), 5)  # the batch's time, shared out
        for (layer, unit), jpeg in jpegs.items():
            self._put(keys[(layer, unit)], {"kind": "dissect_strip", "seconds": each}, {"strip.jpg": jpeg})

    @staticmethod
    def _collect_maps(model: LoadedModel, layer: str, x: torch.Tensor, batch: Sequence[int],
                      wanted: dict, maps: dict) -> None:
        units = sorted({u for i in batch for u in wanted.get((layer, i), [])})
        if not units:
            return
        column = {u: j for j, u in enumerate(units)}
        out = activation_maps(model.module, layer, x, units)
        for row, i in enumerate(batch):
            for u in wanted.get((layer, i), []):
                maps[(layer, u, i)] = out[row, column[u]].clone()  # a copy: keep the small map, not the batch

    def _spatial_layers(self, key: str, img: ProbeImage) -> set[str]:
        """The configured layers whose output is a N x C x H x W map (one image through the model to see)."""
        model = self.models[key]
        ndims: dict[str, int] = {}

        def record(layer: str):
            def hook(_module, _inputs, out) -> None:  # returns None: a forward hook's value would replace the output
                ndims.setdefault(layer, getattr(out, "ndim", 0))
            return hook

        handles = [resolve_layer(model.module, layer).register_forward_hook(record(layer)) for layer in self.cfg.layers]
        try:
            with torch.inference_mode():
                model.module(prepare(load_rgb(img.path), model.preprocess).tensor.to(self.device))
        finally:
            for handle in handles:
                handle.remove()
        return {layer for layer, ndim in ndims.items() if ndim == 4}

    # -- results -------------------------------------------------------------------------------

    def _model_entry(self, entry: dict, rows: list[dict], concept_category: dict[str, str]) -> dict:
        key, model = entry["key"], entry["model"]
        for r in rows:
            r["category"] = concept_category.get(r["label"], "other")
        layers = []
        for info in entry["layers"]:
            layer_rows = [r for r in rows if r["layer"] == info["name"]]
            summary = report.layer_summary(layer_rows, info["threshold"])
            units = [{k: v for k, v in r.items() if k != "layer"} for r in layer_rows]
            layers.append({"name": info["name"], "slug": info["slug"], "importance_kind": layer_rows[0]["importance_kind"],
                           "spatial": info["spatial"], **summary, "units": units,
                           "most_important": [r["unit"] for r in sorted(layer_rows, key=lambda r: r["rank"])[:10]]})
        spec = self.study.models.get(key)
        return {
            "key": key,
            "slug": self.slugs[key],
            "label": (spec.label if spec and spec.label else key),
            "description": model.description,
            "weights_id": model.weights_id,
            "num_classes": len(model.class_names),
            "preprocess": model.preprocess.to_dict(),
            "layers": layers,
            "summary": report.model_summary(rows, concept_category),
            "self_check": _without_units(entry["self_check"]),
            "self_check_misses": _misses(entry["self_check"]),
            "files": self._write_csvs(key, rows, entry["self_check"]),
        }

    def _write_csvs(self, key: str, rows: list[dict], check: dict | None) -> dict[str, str]:
        """The reference code's CSV (``layer,unit,description,similarity``) and a richer one, per model."""
        folder = self.out / "dissection"
        slug = self.slugs[key]
        files = {
            "csv": _export(folder / f"{slug}.csv", _csv(["layer", "unit", "description", "similarity"],
                                                        [[r["layer"], r["unit"], r["label"], r["similarity"]] for r in rows]),
                           self.out),
            "detailed_csv": _export(folder / f"{slug}_detailed.csv", _detailed_csv(rows), self.out),
        }
        if check:
            lines = [[CLASSIFIER, u["unit"], u["class"], u["label"], "; ".join(u["top5"]), u["rank"] or ""]
                     for u in check["units"]]
            files["self_check_csv"] = _export(folder / f"{slug}_fc_self_check.csv",
                                              _csv(["layer", "unit", "class", "label", "top5", "rank_of_class"], lines),
                                              self.out)
        return files

    def _section(self, probe: list[ProbeImage], probe_sha: str, concepts: ConceptSet, concepts_path: Path,
                 models: list[dict], rows_of: dict, skipped: list[dict]) -> dict:
        comps = report.comparisons(models, rows_of)
        files = [p for m in models for p in m["files"].values()]
        section = {
            "method": {"name": "CLIP-Dissect", "citation": CITATION, "strips_citation": STRIPS_CITATION},
            "clip": {"id": self.clip.clip_id, "arch": self.cfg.clip.arch, "pretrained": self.cfg.clip.pretrained},
            "probe": {"folders": [display_name(self.study.path(f)) for f in self.cfg.probe], "images": len(probe),
                      "sha256": probe_sha, "files": [img.name for img in probe]},
            "concepts": {"file": display_name(concepts_path), "count": len(concepts.words), "sha256": concepts.sha256},
            "parameters": {"pool": self.cfg.pool, "top_k": self.cfg.top_k, **WPMI, "labels_per_neuron": LABELS_K,
                           "null_quantile": NULL["quantile"], "null_shuffles": NULL["shuffles"], "seed": self.study.seed,
                           "strip_images": min(self.cfg.strip_images, len(probe)), "strip_thumb_px": strips.THUMB,
                           "strip_outline_level": strips.OUTLINE_LEVEL, "layers": list(self.cfg.layers)},
            "categories": [{"category": c, "prompt": p} for c, p in DEFAULT_CATEGORIES.items()],
            "models": models,
            "comparisons": comps,
            "claims": report.claims_table(models, comps),
            "files": files,
            "assets": [r["strip"] for rows in rows_of.values() for r in rows] + files,
            "skipped": skipped,
        }
        section["headlines"] = report.headlines(section)
        return section


# ---------------------------------------------------------------------------------------------
# helpers


def _classifier(model: LoadedModel) -> nn.Linear | None:
    try:
        layer = resolve_layer(model.module, CLASSIFIER)
    except ConfigError:
        return None
    return layer if isinstance(layer, nn.Linear) else None


def _without_units(check: dict | None) -> dict | None:
    return None if check is None else {k: v for k, v in check.items() if k != "units"}


def _misses(check: dict | None, limit: int = 20) -> list[dict]:
    """The first fc neurons whose top-1 label is not their class (for the overview page)."""
    if check is None:
        return []
    return [{"unit": u["unit"], "class": u["class"], "label": u["label"], "rank": u["rank"]}
            for u in check["units"] if u["rank"] != 1][:limit]


def _csv(header: list[str], lines: list[list]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buf.getvalue().encode("utf-8")


def _detailed_csv(rows: list[dict]) -> bytes:
    header = ["layer", "unit"]
    for i in range(1, LABELS_K + 1):
        header += [f"concept_{i}", f"score_{i}"]
    header += ["mean_activation", "semantic", "dead", "category", "importance", "importance_kind", "importance_rank",
               "strip"]
    lines = []
    for r in rows:
        ranked = [[r["label"], r["similarity"]]] + r["runners_up"]
        ranked += [["", ""]] * (LABELS_K - len(ranked))
        line = [r["layer"], r["unit"]] + [x for pair in ranked for x in pair]
        line += [r["mean_activation"], "yes" if r["semantic"] else "no", "yes" if r["dead"] else "no", r["category"],
                 r["importance"], r["importance_kind"], r["rank"], r["strip"]]
        lines.append(line)
    return _csv(header, lines)


def _export(path: Path, data: bytes, root: Path) -> str:
    """Write ``data`` to ``path`` unless it already holds it; the path relative to the output folder."""
    if not (path.is_file() and path.read_bytes() == data):
        write_atomic(path, data)
    return path.relative_to(root).as_posix()


def _remove_other_files(folder: Path, keep: set[str]) -> None:
    """Strips of neurons or layers no longer dissected (only in this model's own strip folder)."""
    for path in folder.glob("*.jpg"):
        if path.name not in keep:
            path.unlink()
