"""The attribution stage: per image, top-5 predictions, every configured method's map and overlay.

Everything goes through the artifact store, so a second build with nothing changed computes nothing,
and a changed image recomputes only its own artifacts. The stage returns the ``attribution`` section
of ``results.json`` and writes the raw maps and overlays under the study's output folder.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from ..config import Study
from ..data import PreparedImage, list_images, load_rgb, prepare, wnid_of
from ..errors import BadInput, ConfigError
from ..models import LoadedModel, load_model, pick_device, resolve_layer
from ..stage import Stage
from ..store import Artifact, ArtifactStore, bytes_sha256, content_key, write_atomic
from . import compare, evaluate, overlays
from .cams import compute_cam
from .lime_explainer import LimeResult, explain_lime
from .methods import METHODS

TOP_K = 5
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_WNID_PREFIX = re.compile(r"^n\d{8}[_-]")


def image_title(path: Path) -> str:
    """A readable title from the file name: ``n01443537_goldfish.JPEG`` -> ``goldfish``."""
    return _WNID_PREFIX.sub("", path.stem).replace("_", " ").strip() or path.stem


def slugify(name: str) -> str:
    """A file-name-safe page id: letters, digits, ``_`` and ``-`` only (never a path)."""
    slug = _SLUG_UNSAFE.sub("-", name).strip("-_")
    return slug[:80] or "image"


@dataclass
class StageStats:
    computed: int = 0
    reused: int = 0
    seconds: float = 0.0
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    """image id -> method -> compute seconds (as measured when the artifact was made)."""


@dataclass
class ImageInput:
    path: Path
    image_id: str
    data: bytes
    sha256: str
    prepared: PreparedImage


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


class AttributionStage(Stage):
    """Computes (or reuses) predictions, maps and overlays for every image of the study."""

    name = "attribution"

    @classmethod
    def enabled(cls, study: Study) -> bool:
        return study.attribution.enabled

    def __init__(self, study: Study, store: ArtifactStore, model: LoadedModel | None = None):
        self.study = study
        self.cfg = study.attribution
        self.store = store
        self.out = study.output_path
        self.stats = StageStats()
        spec = study.models[self.cfg.model]
        try:
            self.model = model or load_model(spec.loader_spec() | _resolved_files(study, spec), offline=study.offline)
        except ConfigError as exc:
            raise ConfigError(f"models.{self.cfg.model}: {exc}") from None
        self.device = pick_device(study.device)
        self.model.module.to(self.device).eval()
        try:
            self.layer = resolve_layer(self.model.module, self.cfg.layer)
        except ConfigError as exc:
            raise ConfigError(f"attribution.layer: {exc}") from None
        if isinstance(self.cfg.target, int) and self.cfg.target >= len(self.model.class_names):
            raise ConfigError(
                f"attribution.target: class {self.cfg.target} is out of range; "
                f"{self.cfg.model} has classes 0-{len(self.model.class_names) - 1}"
            )
        self.model_key = {"weights": self.model.weights_id, "preprocess": self.model.preprocess.to_dict()}

    # -- inputs --------------------------------------------------------------------------------

    def load_inputs(self) -> tuple[list[ImageInput], list[dict]]:
        """Readable images, and a skip record (file + one-line reason) for every unusable one."""
        inputs, skipped, seen = [], [], {}
        folder = self.study.path(self.cfg.images)
        for path in list_images(folder):
            image_id = slugify(path.stem)
            if image_id in seen:
                skipped.append({"file": path.name, "reason": f"its page name {image_id!r} is taken by {seen[image_id]}; rename one"})
                continue
            try:
                data = path.read_bytes()
                prepared = prepare(load_rgb(path), self.model.preprocess)
            except BadInput as exc:
                skipped.append({"file": path.name, "reason": str(exc)})
                continue
            except OSError as exc:
                skipped.append({"file": path.name, "reason": f"{path.name}: cannot be read ({exc.strerror})"})
                continue
            seen[image_id] = path.name
            inputs.append(ImageInput(path, image_id, data, bytes_sha256(data), prepared))
        return inputs, skipped

    # -- cached computations -------------------------------------------------------------------

    def _cached(self, key: str, compute) -> Artifact:
        found = self.store.get(key)
        if found is not None:
            self.stats.reused += 1
            return found
        start = time.perf_counter()
        meta, files = compute()
        meta["seconds"] = round(time.perf_counter() - start, 3)
        self.stats.computed += 1
        return self.store.put(key, meta, files)

    def predict(self, item: ImageInput) -> Artifact:
        key = content_key(kind="predictions", model=self.model_key, image=item.sha256, version=__version__)

        def compute():
            with torch.inference_mode():
                logits = self.model.module(item.prepared.tensor.to(self.device))
            probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy().astype(np.float32)
            return {"kind": "predictions"}, {"probs.npy": probs}

        return self._cached(key, compute)

    def explain(self, item: ImageInput, method: str, class_index: int) -> Artifact:
        params = self._method_params(method)
        key = content_key(kind="attribution", model=self.model_key, layer=self.cfg.layer, image=item.sha256,
                          method=method, target=class_index, params=params, version=__version__)

        def compute():
            torch.manual_seed(self.study.seed)
            rgb = item.prepared.rgb
            if METHODS[method].kind == "lime":
                result = explain_lime(self.model.module, rgb, self.model.preprocess, class_index,
                                      seed=self.study.seed, **params)
                top = result.top_segments(self.cfg.lime.num_features)
                meta = {"kind": "lime", "weights": {str(k): v for k, v in sorted(result.weights.items())},
                        "intercept": result.intercept, "score": result.score, "top_segments": top}
                files = {"map.npy": result.pixel_map(), "segments.npy": result.segments,
                         "overlay.jpg": overlays.lime_overlay(rgb, result.segments, top)}
                return meta, files
            cam = compute_cam(method, self.model.module, self.layer, item.prepared.tensor, class_index,
                              batch_size=self.cfg.batch_size)
            return {"kind": "cam"}, {"map.npy": cam, "overlay.jpg": overlays.cam_overlay(rgb, cam)}

        return self._cached(key, compute)

    def _method_params(self, method: str) -> dict:
        if METHODS[method].kind == "lime":
            lime = self.cfg.lime
            return {"num_samples": lime.num_samples, "batch_size": lime.batch_size, "kernel_size": lime.kernel_size,
                    "max_dist": lime.max_dist, "ratio": lime.ratio}
        return {}

    def evaluate(self, item: ImageInput, class_index: int, artifacts: dict[str, Artifact]) -> Artifact:
        """Faithfulness and agreement numbers of this image's maps (one artifact per image)."""
        steps = self.cfg.deletion_steps
        key = content_key(kind="metrics", model=self.model_key, image=item.sha256, target=class_index, steps=steps,
                          seed=self.study.seed, maps={m: a.meta["_key"] for m, a in artifacts.items()},
                          version=__version__)

        def compute():
            maps = {m: a.array("map.npy") for m, a in artifacts.items()}
            lime = None
            if "lime" in artifacts:
                weights = {int(k): v for k, v in artifacts["lime"].meta["weights"].items()}
                lime = (artifacts["lime"].array("segments.npy"), weights)
            x = item.prepared.tensor.to(self.device)
            faith = evaluate.faithfulness(self.model.module, x, maps, class_index, steps, self.layer_hw(item),
                                          self.study.seed)
            return {"kind": "metrics", "faithfulness": faith, "agreement": evaluate.agreement(maps, lime)}, {}

        return self._cached(key, compute)

    def layer_hw(self, item: ImageInput) -> tuple[int, int]:
        """Spatial size of the CAM layer's output: the resolution of the random baseline's maps."""
        if not hasattr(self, "_layer_hw"):
            shapes = []
            handle = self.layer.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(out.shape)))
            try:
                with torch.inference_mode():
                    self.model.module(item.prepared.tensor.to(self.device))
            finally:
                handle.remove()
            self._layer_hw = shapes[0][-2:] if shapes and len(shapes[0]) == 4 else (7, 7)
        return self._layer_hw

    # -- targets -------------------------------------------------------------------------------

    def target_for(self, item: ImageInput, probs: np.ndarray) -> tuple[int, str, str] | str:
        """(class index, rule, why) of the explained class, or a skip reason."""
        target = self.cfg.target
        if target == "predicted":
            k = int(np.argmax(probs))
            return k, "predicted", "the model's top-1 prediction (target = \"predicted\")"
        if target == "label":
            wnid = wnid_of(item.path)
            if wnid is None or wnid not in self.model.wnids:
                return f"{item.path.name}: no ImageNet WordNet id in the file name, needed for target = \"label\""
            k = self.model.wnids.index(wnid)
            return k, "label", f"the image's true class, from the WordNet id {wnid} in its file name (target = \"label\")"
        return int(target), "index", f"class index {int(target)} fixed in the study config"

    # -- the stage -----------------------------------------------------------------------------

    def run(self) -> dict:
        start = time.perf_counter()
        inputs, skipped = self.load_inputs()
        records = []
        steps_per_image = 1 + len(self.cfg.methods) + int(self.cfg.metrics)
        progress = tqdm(total=len(inputs) * steps_per_image, desc="attribution", unit="step", disable=None)
        for item in inputs:
            records.append(self._run_image(item, skipped, progress))
        progress.close()
        self.stats.seconds = time.perf_counter() - start
        images = [r for r in records if r is not None]
        section = {
            "model": {
                "key": self.cfg.model,
                "description": self.model.description,
                "weights_id": self.model.weights_id,
                "layer": self.cfg.layer,
                "preprocess": self.model.preprocess.to_dict(),
                "num_classes": len(self.model.class_names),
            },
            "methods": [{"name": m, "title": METHODS[m].title, "citation": METHODS[m].citation} for m in self.cfg.methods],
            "target_rule": self.cfg.target,
            "parameters": self._parameters(),
            "images": images,
            "skipped": skipped,
        }
        if self.cfg.metrics and images:
            section["comparison"] = compare.comparison(images, self.cfg.methods)
            section["headlines"] = compare.headlines(section["comparison"], {m: METHODS[m].title for m in self.cfg.methods})
        return section

    def _parameters(self) -> dict:
        """Settings shown on the methodology page (strings, so the page can print them as they are)."""
        lime = self.cfg.lime
        params = {
            "CAM batch size (Ablation-CAM, Score-CAM)": str(self.cfg.batch_size),
            "LIME": f"{lime.num_samples} samples, quickshift (kernel {lime.kernel_size}, max_dist {lime.max_dist}, "
                    f"ratio {lime.ratio}), {lime.num_features} superpixels outlined, hidden superpixels filled with their mean colour",
            "Seed": str(self.study.seed),
        }
        if self.cfg.metrics:
            params["Deletion / insertion"] = (f"{self.cfg.deletion_steps} steps, removed pixels take a Gaussian-blurred copy's "
                                              "values (sigma = shorter side / 8); random baseline: 5 smooth random maps at the "
                                              "CAM layer's resolution")
        return params

    def _run_image(self, item: ImageInput, skipped: list[dict], progress) -> dict | None:
        probs = self.predict(item).array("probs.npy")
        progress.update(1)
        target = self.target_for(item, probs)
        if isinstance(target, str):
            skipped.append({"file": item.path.name, "reason": target})
            progress.update(len(self.cfg.methods))
            return None
        class_index, rule, why = target
        top = np.argsort(-probs, kind="stable")[:TOP_K]
        wnid = wnid_of(item.path)
        true_index = self.model.wnids.index(wnid) if wnid and wnid in self.model.wnids else None
        record = {
            "id": item.image_id,
            "title": image_title(item.path),
            "file": item.path.name,
            "sha256": item.sha256,
            "true_class": None if true_index is None else {"index": true_index, "name": self.model.class_names[true_index], "wnid": wnid},
            "predictions": [{"index": int(k), "name": self.model.class_names[k], "probability": round(float(probs[k]), 6)} for k in top],
            "correct": None if true_index is None else bool(int(top[0]) == true_index),
            "target": {"index": class_index, "name": self.model.class_names[class_index], "rule": rule, "why": why,
                       "probability": round(float(probs[class_index]), 6)},
            "photo": self._export(item.image_id, "photo.jpg", overlays.photo(item.prepared.rgb), "overlays"),
            "methods": {},
        }
        self.stats.timings[item.image_id] = {}
        artifacts = {}
        for method in self.cfg.methods:
            progress.set_postfix_str(f"{item.image_id[:24]} {method}")
            artifact = self.explain(item, method, class_index)
            artifacts[method] = artifact
            self.stats.timings[item.image_id][method] = artifact.meta["seconds"]
            entry = {
                "class_index": class_index,
                "map": self._export(item.image_id, f"{method}.npy", artifact.file("map.npy").read_bytes(), "maps"),
                "overlay": self._export(item.image_id, f"{method}.jpg", artifact.file("overlay.jpg").read_bytes(), "overlays"),
            }
            if artifact.meta.get("kind") == "lime":
                entry["segments"] = self._export(item.image_id, "lime_segments.npy",
                                                 artifact.file("segments.npy").read_bytes(), "maps")
                entry["weights"] = artifact.meta["weights"]
                entry["top_segments"] = artifact.meta["top_segments"]
                entry["score"] = round(artifact.meta["score"], 6)
            record["methods"][method] = entry
            progress.update(1)
        if self.cfg.metrics:
            progress.set_postfix_str(f"{item.image_id[:24]} metrics")
            found = self.evaluate(item, class_index, artifacts)
            record["metrics"] = {"faithfulness": found.meta["faithfulness"], "agreement": found.meta["agreement"]}
            self.stats.timings[item.image_id]["metrics"] = found.meta["seconds"]
            progress.update(1)
        return record

    def _export(self, image_id: str, suffix: str, data: bytes, folder: str) -> str:
        """Copy a raw result out of the store to ``<output>/<folder>/<image>_<suffix>`` (if changed)."""
        path = self.out / folder / f"{image_id}_{suffix}"
        if not (path.is_file() and path.read_bytes() == data):
            write_atomic(path, data)
        return _relative(path, self.out)


def _resolved_files(study: Study, spec) -> dict:
    """Model file paths in the config are relative to the study file."""
    return {"file": str(study.path(spec.file))} if spec.file else {}
