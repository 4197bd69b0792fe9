"""The whole of ``results.json``: its schema version, the study header and one section per stage."""

from __future__ import annotations

import json
from typing import Any, Optional

from .attribution import AttributionSection
from .base import Record
from .dissection import DissectionSection

SCHEMA_VERSION = 2
"""Raised when a field is renamed, removed or changes meaning (adding an optional field keeps it)."""


class StudyHeader(Record):
    """What identifies the study on every page."""

    title: str
    description: str
    seed: int
    study_file: str
    xai_report_version: str


class Results(Record):
    """``results.json``: what the stages found, numbers only (the pages' sentences are made from them)."""

    schema_version: int = SCHEMA_VERSION
    """The version of ``results.schema.json`` this file follows."""
    study: StudyHeader
    attribution: Optional[AttributionSection] = None
    """Absent when the study runs no attribution."""
    dissection: Optional[DissectionSection] = None
    """Absent when the study runs no dissection."""

    def dump(self) -> dict[str, Any]:
        """The file's JSON value: fields a stage left out stay out (absence and null differ, as before)."""
        return {"schema_version": self.schema_version, **self.model_dump(mode="json", by_alias=True, exclude_unset=True)}

    def text(self) -> str:
        """The file's text (2-space indent, keys in schema order, one final newline)."""
        return json.dumps(self.dump(), indent=2) + "\n"

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """``results.schema.json``: the JSON Schema (draft 2020-12) of this file."""
        schema = cls.model_json_schema(by_alias=True, mode="serialization")
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"results.schema.v{SCHEMA_VERSION}.json",
                **schema}
