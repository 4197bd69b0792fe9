"""The base of every record of ``results.json``, and the small records both sections share."""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict

Number = Union[int, float]
"""A JSON number that may be written as an integer (a parameter such as ``resize``)."""


class Record(BaseModel):
    """A part of ``results.json``: unknown keys are refused, values are not changed after reading, field
    docstrings become the JSON Schema's descriptions. Fields declared ``X | None = None`` without a note are
    left out of the file when the stage leaves them out (``Results.dump`` keeps absence and null apart, as the
    file always did)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True)


class Skipped(Record):
    """An input a stage left out, and why."""

    file: str
    reason: str


class Preprocess(Record):
    """A model's input pipeline: resize (shorter side, or [height, width]), centre crop, normalisation."""

    resize: Union[int, list[int]]
    crop: Union[int, None]
    mean: list[Number]
    std: list[Number]
    interpolation: str
    transform: Union[str, None] = None
    """The model's own preprocessing when it made the tensor instead of the steps above (a Hugging Face image
    processor, a transform given to the Python API): its class and settings. Absent otherwise."""


class ModelInfo(Record):
    """What identifies a model on the pages."""

    key: str
    """The model's table name in the study file."""
    description: str
    weights_id: str
    """Where its weights come from (``torchvision:resnet50:IMAGENET1K_V2``, a file hash, ...)."""
