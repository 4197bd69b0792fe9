"""Neuron labels: soft-WPMI over a whole layer, each neuron's top-5 concepts, and the layer's null threshold.

CLIP-Dissect (Oikarinen & Weng, ICLR 2023, Sec. 3 steps 2-4): ``P`` = the probe images' CLIP similarity to each
concept (:func:`.wpmi.clip_similarity`), the neuron's top images are weighted by rank and the concept whose
soft-WPMI score is highest is the label (:mod:`.wpmi`). The null threshold (:mod:`.null`) is the score a label
must reach to count as semantic. One artifact per model, layer, probe set and concept set.
"""

from __future__ import annotations

import time
from dataclasses import fields

import torch

from ..stage import Stage
from ..store import Artifact
from .clip_text import LIBRARIES as CLIP_LIBRARIES
from .concepts import TEXT_CODE, ConceptSet
from .features import ACTIVATIONS_CODE, CLIP_IMAGE_CODE, MODEL_LIBRARIES
from .null import null_threshold
from .quality import SplitHalf, split_half, split_halves
from .wpmi import clip_similarity, label_neurons, soft_wpmi

WPMI = {"a": 10.0, "lam": 1.0, "p_start": 0.998, "p_end": 0.97, "min_prob": 1e-7}
"""The reference code's soft-WPMI defaults (``similarity.soft_wpmi``); ``top_k`` comes from the config."""
NULL = {"quantile": 0.95, "shuffles": 1}
"""Null threshold: one shuffle of a whole layer already gives as many null scores as the layer has neurons."""
LABELS_K = 5
"""Concepts kept per neuron: the label and four runners-up."""
LABELS_CODE = ("xai_report.dissect.wpmi", "xai_report.dissect.null", "xai_report.dissect.quality", __name__) + CLIP_IMAGE_CODE + TEXT_CODE \
    + ACTIVATIONS_CODE
"""The code labels come from, with the code of their inputs (CLIP features, activations), whose values the key
does not otherwise see: part of their cache key."""
LABELS_LIBRARIES = CLIP_LIBRARIES + MODEL_LIBRARIES


def _r(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


def compute_labels(p: torch.Tensor, acts: torch.Tensor, words: list[str], top_k: int, null: dict | None,
                   device: torch.device) -> dict:
    """Top-``LABELS_K`` concepts of every neuron of one layer (``acts``: images x neurons, ``p``: images x
    concepts) and, when ``null`` is given, the layer's null threshold; the artifact's meta."""
    kwargs = {"top_k": top_k, "device": device, **WPMI}
    start = time.perf_counter()
    labels = label_neurons(soft_wpmi(p, acts, **kwargs), words, k=LABELS_K)
    wpmi_s = time.perf_counter() - start
    threshold = None
    if null is not None:
        threshold = null_threshold(p, acts, quantile=null["quantile"], n_shuffles=null["shuffles"], seed=null["seed"],
                                   **kwargs)
    return {
        "labels": [[lab.top_concepts, [_r(s) for s in lab.top_scores]] for lab in labels],
        "threshold": None if threshold is None else _r(threshold),
        "seconds": round(wpmi_s, 3),
        "null_seconds": round(time.perf_counter() - start - wpmi_s, 3),
    }


class Labeller:
    """Labels the layers of every model against concept sets, on one probe set's CLIP image features."""

    def __init__(self, stage: Stage, clip_id: str, image_feats: torch.Tensor | None, probe_sha: str,
                 code: tuple[str, ...] = ()):
        self.stage = stage
        self.code = LABELS_CODE + code
        self.clip_id = clip_id
        self.image_feats = image_feats
        self.probe_sha = probe_sha
        self.cfg = stage.study.dissection
        self._similarity: dict[str, torch.Tensor] = {}

    def similarity(self, cs: ConceptSet) -> torch.Tensor:
        """``P`` (images x concepts), computed once per concept set and shared by every model and layer (the
        labels source gives it with the concept set)."""
        if cs.p is not None:
            return cs.p
        if cs.sha256 not in self._similarity:
            self._similarity[cs.sha256] = clip_similarity(self.image_feats, cs.feats)
        return self._similarity[cs.sha256]

    def label_layer(self, key: str, model_id: dict, layer: str, acts: torch.Tensor, cs: ConceptSet,
                    with_null: bool) -> Artifact:
        """Top-5 concepts of every neuron of one whole layer of model ``key`` (soft-WPMI), and its null threshold."""
        null = {**NULL, "seed": self.stage.study.seed} if with_null else None
        params = {"top_k": self.cfg.top_k, **WPMI, "labels": LABELS_K, "null": null}
        art_key = self.stage.key("dissect_labels", code=self.code, libraries=LABELS_LIBRARIES, model=model_id,
                                 layer=layer, pool=self.cfg.pool_id(), probe=self.probe_sha, concepts=cs.sha256,
                                 clip=self.clip_id, params=params)
        art = self.stage.lookup(art_key)
        if art is None:
            meta = compute_labels(self.similarity(cs), acts, cs.words, self.cfg.top_k, null, self.stage.device)
            art = self.stage.save(art_key, {"kind": "dissect_labels", "layer": layer, **meta})
        self.stage.add_time(f"soft-wpmi {key} {layer} ({cs.purpose})", art.meta["seconds"], "neurons", acts.shape[1])
        if with_null:
            self.stage.add_time(f"null threshold {key} {layer}", art.meta["null_seconds"], "neurons", acts.shape[1])
        return art

    def split_half(self, key: str, model_id: dict, layer: str, acts: torch.Tensor, cs: ConceptSet) -> SplitHalf:
        """The layer labelled on two random halves of the probe set, plain and shuffled, and (labels source) the
        held-out precision of half A's labels on half B (:func:`.quality.split_half`); one artifact per layer."""
        seed = self.stage.study.seed
        params = {"top_k": self.cfg.top_k, **WPMI, "seed": seed}
        art_key = self.stage.key("dissect_split_half", code=self.code, libraries=LABELS_LIBRARIES, model=model_id,
                                 layer=layer, pool=self.cfg.pool_id(), probe=self.probe_sha, concepts=cs.sha256,
                                 clip=self.clip_id, params=params)

        def compute():
            halves = split_halves(acts.shape[0], seed)
            found = split_half(self.similarity(cs), acts, halves, self.cfg.top_k, self.stage.device, seed,
                               member=cs.member, **WPMI)
            files = {f"{name}.npy": value.numpy() for name, value in vars(found).items() if value is not None}
            return {"kind": "dissect_split_half", "layer": layer, "halves": [len(h) for h in halves]}, files

        art = self.stage.cached(art_key, compute)
        self.stage.add_time(f"split halves {key} {layer}", art.meta["seconds"], "neurons", acts.shape[1])
        names = [f.name for f in fields(SplitHalf)]
        return SplitHalf(**{n: torch.from_numpy(art.array(f"{n}.npy")) if f"{n}.npy" in art.meta["_files"] else None
                            for n in names})
