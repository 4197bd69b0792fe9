"""A model that methods explain, and the cached explanation of one image by one method on it.

The study's model, its randomised twin (:mod:`.randomised`) and the reruns with other seeds (:mod:`.map_measures`)
all go through :func:`explanation`, so every map is keyed the same way: the method's code and libraries
(the explainer's ``runs``), the model's identity, the layer, the image, the class and the explainer's own parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..cache import ArtifactCache

from ..store import Artifact
from .methods.explainer import Explainer, explained
from .inputs import ImageInput, prepared_image


@dataclass
class Subject:
    """A model that methods explain: its module and what identifies it in cache keys."""

    module: nn.Module
    model_key: dict


def explanation(cache: ArtifactCache, subject: Subject, method: str, explainer: Explainer, layer: str, seed: int,
                item: ImageInput, class_index: int) -> Artifact:
    """``explainer``'s (method ``method`` of the registry) explanation of ``class_index`` of ``item`` on ``subject``
    and its overlay (:func:`.explainer.explained`, which seeds ``torch`` with ``seed`` first), cached."""
    runs = explainer.runs
    key = cache.key("attribution", code=(explained, prepared_image, *runs), model=subject.model_key,
                    layer=layer, image=item.sha256, method=method, target=class_index,
                    runs=[f"{r.__module__}.{r.__qualname__}" for r in runs], params=explainer.params())

    return cache.cached(key, lambda: explained(method, explainer, subject.module, item.prepared, class_index, seed))
