"""``source = "python"``: your own code, in the style of torch.hub entry points.

``entry = "package.module:function"`` or ``"path/to/file.py:function"`` (relative to the study file) names a
function that takes no arguments (or only ``file``, when the study gives one) and returns an ``nn.Module``, or
a dict with ``model`` and, optionally, ``preprocess`` (a :class:`Preprocess` or the keys of a study's
``preprocess`` table), ``class_names`` and ``default_layer``. A model whose ``forward`` returns a tuple, a dict
or a ``ModelOutput`` is wrapped (:mod:`..outputs`: the ``logits`` key or attribute, else the first tensor).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

import torch
from torch import nn

from ...errors import ConfigError
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, with_overrides
from .base import Source, SourceParams, read_class_names
from .common import file_id, imagenet_names

DEFAULT_PREPROCESS = Preprocess(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
"""What an entry point that gives no preprocessing gets (change it with the study's ``preprocess`` table)."""


class PythonParams(SourceParams):
    entry: str
    """``package.module:function`` or ``path/to/file.py:function``."""
    file: str = ""
    """Passed to the function as ``file=`` (e.g. a weight file); part of the cache key by its hash."""
    class_names: str = ""
    """A text file of class names, one a line (default: the entry point's, else ImageNet's for 1000 outputs)."""


def resolve(entry: str):
    """The function ``entry`` names; ConfigError (``entry: ...``) when it cannot be imported."""
    target, sep, func = entry.rpartition(":")
    if not sep or not target or not func.isidentifier():
        raise ConfigError(f"entry: {entry!r}; write \"package.module:function\" or \"path/to/file.py:function\"")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise ConfigError(f"entry: file {path} does not exist")
            name = f"xai_report_entry_{file_id(path)}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ConfigError:
        raise
    except Exception as exc:  # the user's module may raise anything while importing
        raise ConfigError(f"entry: {target} does not import ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    function = getattr(module, func, None)
    if not callable(function):
        raise ConfigError(f"entry: {target} has no function {func!r}")
    return function, module


def check(params: PythonParams, offline: bool) -> None:
    resolve(params.entry)


def load(params: PythonParams, offline: bool):
    from ..loaded import LoadedModel
    from ..outputs import as_classifier

    function, module = resolve(params.entry)
    kwargs = {"file": params.file} if params.file and "file" in inspect.signature(function).parameters else {}
    if params.file and not kwargs:
        raise ConfigError(f"file: {params.entry} takes no `file` argument; remove the key or add the argument")
    try:
        made = function(**kwargs)
    except Exception as exc:
        raise ConfigError(f"entry: {params.entry} failed ({type(exc).__name__}: {str(exc)[:200]})") from None
    found = made if isinstance(made, dict) else {"model": made}
    if not isinstance(found.get("model"), nn.Module):
        raise ConfigError(f"entry: {params.entry} returned {type(found.get('model')).__name__}, not an nn.Module "
                          "(return the model, or a dict with `model`)")
    given = found.get("preprocess")
    preprocess = given if isinstance(given, Preprocess) else with_overrides(DEFAULT_PREPROCESS, given) if given else DEFAULT_PREPROCESS
    where = f"entry point {params.entry}"
    net = found["model"].eval()
    probe = torch.zeros(1, 3, *preprocess.input_size)
    net = as_classifier(net, probe, where)
    with torch.inference_mode():
        num_classes = int(net(probe).shape[1])
    wnids, names = imagenet_names(num_classes)
    if found.get("class_names"):
        names, wnids = list(found["class_names"]), []
    if params.class_names:
        names, wnids = read_class_names(params.class_names, "class_names"), []
    if len(names) != num_classes:
        raise ConfigError(f"class_names: {len(names)} names for the {num_classes} outputs of {params.entry}")
    code = Path(module.__file__) if getattr(module, "__file__", None) else None
    weights_id = f"python:{params.entry}" + (f":code={file_id(code)}" if code else "")
    weights_id += f":file={file_id(Path(params.file))}" if params.file else ""
    return LoadedModel(
        module=net, preprocess=preprocess, class_names=names, weights_id=weights_id,
        description=f"your own model from {params.entry}" + (f", weights from {Path(params.file).name}" if params.file else ""),
        wnids=wnids, preprocess_source="entry point" if given else "xai-report's ImageNet default (the entry point gives none)",
        prefix_tokens=found.get("prefix_tokens"), default_layer=found.get("default_layer", ""),
    )


SOURCE = Source("python", PythonParams, load, check)
