"""Typed records of ``results.json``: one pydantic model per part, written by the stages (validated by
:func:`xai_report.results.write_results`) and read by render and the templates. ``results.schema.json``, published
beside every ``results.json``, is :meth:`Results.json_schema`.

Imports only pydantic and the standard library, so stages and render both stand on it.
"""

from .attribution import (Accuracy, AttributionModel, AttributionSection, Comparison, ConfidencePoint,
                          ConfidenceVsAgreement, MapMeasuresSummary, MethodInfo, MethodMeasures, MethodRow,
                          RandomisedSummary, StabilitySummary, Stats)
from .base import ModelInfo, Preprocess, Record, Skipped
from .dissection import (Concepts, DissectedModel, DissectionSection, Layer, Miss, ModelComparison, ModelSummary,
                         NeuronRow, Quality, SelfCheck)
from .images import (Agreement, Boxes, Faithfulness, ImageMapMeasures, ImageRecord, MapMeasures, MethodEntry,
                     MethodFaithfulness, Metrics, Neurons, PairAgreement, RandomisedMap, RegionAgreement, SeedStability,
                     UnitContribution)
from .results import SCHEMA_VERSION, Results, StudyHeader
from .scores import MetricInfo, MetricScore, Trust
