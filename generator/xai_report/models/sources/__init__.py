"""Model sources for your own models, one module each: :mod:`.timm`, :mod:`.huggingface`, :mod:`.python_entry`.

Each source declares its parameters as a pydantic model (:class:`SourceParams` subclass, unknown keys are
errors) and a loader ``load(spec, offline) -> LoadedModel``. :func:`check_params` validates a study's
``[models.<key>]`` table against its source's parameters and answers in one line naming ``models.<key>.<field>``.
The older sources (torchvision, places365, local, packaged) live in :mod:`..classifiers`.
"""

from .base import COMMON_KEYS, Source, SourceParams, check_params, closest, read_class_names
from .registry import REGISTRY, SOURCES
