"""The typed results contract: every results.json the stages write validates against the JSON Schema shipped
beside it (a real JSON-Schema validation with ``jsonschema``, not only pydantic), a record that does not fit is
refused, the templates read results without fallbacks, and an old or foreign results.json is one clear line."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from xai_report.config import load_study
from xai_report.errors import XaiReportError
from xai_report.paths import TEMPLATES_DIR
from xai_report.records import SCHEMA_VERSION, Results
from xai_report.results import (RESULTS_FILE, SCHEMA_FILE, load_results, read_results, schema_text, typed,
                                write_results)

from conftest import write_study
from records_fill import filled

IMAGE = {"id": "kite", "title": "kite", "file": "kite.jpg", "sha256": "ab", "photo": "overlays/kite_photo.jpg",
         "target": {"index": 21, "name": "kite", "rule": "predicted", "why": "the top-1 prediction", "probability": 0.5},
         "predictions": [{"index": 21, "name": "kite", "probability": 0.5}], "true_class": None, "correct": None,
         "methods": {"lime": {"class_index": 21, "map": "maps/kite_lime.npy", "overlay": "overlays/kite_lime.jpg",
                              "segments": "maps/kite_lime_segments.npy", "weights": {"0": 0.25, "3": -0.1},
                              "top_segments": [0], "score": 0.4}},
         "neurons": {"layer": "bn2", "absent": "no pooled linear head"}}


def results_json() -> dict:
    """A whole results.json value as a stage writes it (the image as the attribution stage writes it)."""
    return filled({"attribution": {"model": {"key": "m", "layer": "bn2"}, "images": [IMAGE]}}).dump()


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_is_a_valid_draft_2020_12_schema_with_its_version():
    schema = json.loads(schema_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["default"] == SCHEMA_VERSION
    validator()  # check_schema raises on an invalid schema


def test_a_results_json_validates_and_round_trips_unchanged():
    value = results_json()
    validator().validate(value)
    assert value["schema_version"] == SCHEMA_VERSION and list(value)[:2] == ["schema_version", "study"]
    entry = value["attribution"]["images"][0]["methods"]["lime"]
    assert list(entry) == ["class_index", "map", "overlay", "segments", "weights", "top_segments", "score"]
    assert "randomised" not in value["attribution"]["images"][0]  # absent stays absent, not null
    assert typed(value).dump() == value


@pytest.mark.parametrize("path, bad, error", [
    (("attribution", "images", 0, "target", "probability"), "high", "float"),  # a wrong type
    (("attribution", "images", 0, "neurons", "unit_count"), 3, "Extra inputs"),  # a key the records do not know
    (("attribution", "images", 0, "methods", "lime", "weights"), ["0.25"], "dictionary"),
])
def test_a_malformed_record_is_refused_by_the_records_and_by_the_schema(path, bad, error):
    value = results_json()
    where = value
    for part in path[:-1]:
        where = where[part]
    where[path[-1]] = bad
    with pytest.raises(ValueError, match=error):  # pydantic's ValidationError is a ValueError
        typed(value)
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(value)


def test_a_missing_required_field_is_refused():
    value = results_json()
    del value["attribution"]["images"][0]["photo"]
    with pytest.raises(ValueError, match="photo"):
        typed(value)
    error = jsonschema.exceptions.best_match(validator().iter_errors(value))
    assert error.message == "'photo' is a required property"
    assert list(error.absolute_path) == ["attribution", "images", 0]


def test_a_number_the_records_would_change_is_refused():
    """An integer where the records hold a float would come back as 1.0: the stage must write the float."""
    value = results_json()
    value["attribution"]["images"][0]["target"]["probability"] = 1
    with pytest.raises(ValueError, match=r"target.probability: 1 becomes 1.0"):
        typed(value)


def test_write_results_writes_the_schema_beside_results_json(tmp_path, image_folder):
    study = load_study(write_study(tmp_path, image_folder))
    study.output_path.mkdir(parents=True, exist_ok=True)
    value = results_json()
    write_results(study, {k: v for k, v in value.items() if k != "schema_version"}, {})
    written = json.loads((study.output_path / RESULTS_FILE).read_text())
    schema = json.loads((study.output_path / SCHEMA_FILE).read_text())
    jsonschema.validate(written, schema, cls=jsonschema.Draft202012Validator)
    assert written == value and load_results(study) == Results.model_validate(value)


def test_an_old_results_json_is_one_line_naming_the_file_and_the_field(tmp_path, image_folder):
    study = load_study(write_study(tmp_path, image_folder))
    study.output_path.mkdir(parents=True, exist_ok=True)
    old = results_json()
    old["attribution"]["comparison"] = {"methods": [{"method": "lime", "lime_superpixel_spearman": None}]}
    (study.output_path / RESULTS_FILE).write_text(json.dumps(old))
    with pytest.raises(XaiReportError) as found:
        load_results(study)
    message = str(found.value)
    assert str(study.output_path / RESULTS_FILE) in message and "attribution.comparison" in message
    assert "xai-report build" in message and "\n" not in message
    del old["schema_version"]  # a results.json written before the schema was versioned
    (study.output_path / RESULTS_FILE).write_text(json.dumps(old))
    with pytest.raises(XaiReportError, match=r"results.json: schema_version None \(this xai-report reads 2\); run"):
        load_results(study)


def test_a_build_keeps_only_sections_of_its_own_schema_version(tmp_path, image_folder):
    """``xai-report attribute`` keeps the dissection section of the last build, unless that build wrote another
    schema version: then its sections would not fit the records, and the build starts from none."""
    study = load_study(write_study(tmp_path, image_folder))
    study.output_path.mkdir(parents=True, exist_ok=True)
    value = results_json()
    (study.output_path / RESULTS_FILE).write_text(json.dumps(value))
    assert read_results(study) == value
    (study.output_path / RESULTS_FILE).write_text(json.dumps({**value, "schema_version": SCHEMA_VERSION - 1}))
    assert read_results(study) == {}


def test_templates_read_results_without_fallbacks():
    """No ``.get(`` in any template (a default there would hide a missing field), and no constant the results
    carry (the 0.95 quantile) is written into a template."""
    for path in sorted(TEMPLATES_DIR.glob("*.j2")):
        text = path.read_text()
        assert ".get(" not in text, f"{path.name}: reads through .get(; read the typed record's attribute"
        assert not re.search(r"\b0\.95\b|\b0\.05\b|(?<![\w.-])9?5%", text), \
            f"{path.name}: a quantile (or its chance level) written in; read it from the results"


def test_records_from_the_artifact_store_keep_its_sorted_key_order():
    """The store gives its JSON back with sorted keys, and results.json always kept that order for these parts."""
    from xai_report.records import (Agreement, Boxes, MapMeasures, MethodFaithfulness, PairAgreement, RegionAgreement,
                                    SeedStability)
    from xai_report.records.images import RandomBaseline, SeedPair

    for model in (Boxes, MapMeasures, SeedPair, SeedStability, MethodFaithfulness, RandomBaseline, PairAgreement,
                  RegionAgreement):
        assert list(model.model_fields) == sorted(model.model_fields), model.__name__
    agreement = Agreement.model_validate({"pairs": [], "lime": {"gradcam": {"superpixel_spearman": 0.5, "top5_overlap": 0.4}}})
    assert list(agreement.model_dump()) == ["lime", "pairs"] and agreement.regions("lime")["gradcam"].top5_overlap == 0.4
