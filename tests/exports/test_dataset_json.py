"""Dataset-JSON 1.1 (issue 29 item 1): every dataset of an export as <name>.json and
<name>.ndjson, validated against the CDISC Dataset-JSON 1.1 schemas (exports/data/, copied from
the shared data), with the same values as the XPT: both files are read back and compared with
the XPT cell by cell."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from exports import services
from exports.models import ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, populate_for_export
from tests.exports.test_exports import read_xpt

pytestmark = pytest.mark.req("ISSUE-29")

DATA = Path(__file__).resolve().parents[2] / "exports" / "data"
DATASETS = ["TS", "DM", "EX", "AE", "CM", "DS", "DD", "LB", "VS", "SE", "ADSL", "ADAE", "ADTTE"]


def same(json_value, xpt_value, data_type: str) -> bool:
    if json_value is None:
        return xpt_value == "" if data_type == "string" else (xpt_value is None or xpt_value != xpt_value)
    if data_type == "date":
        return isinstance(xpt_value, date) and xpt_value.isoformat() == json_value
    if data_type in {"integer", "double"}:
        return math.isclose(float(xpt_value), json_value, rel_tol=0, abs_tol=0) and (
            data_type == "double" or isinstance(json_value, int)
        )
    return json_value == xpt_value


def test_dataset_json_and_ndjson_validate_and_match_the_xpt_cell_by_cell(world):
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=DATASETS,
        formats=["xpt", "json"],
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    files = {f.name: bytes(f.content) for f in ExportFile.objects.filter(export=export)}
    schema = json.loads((DATA / "dataset.schema.json").read_text())
    ndjson_schema = json.loads((DATA / "dataset-ndjson-schema.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    ndjson_validator = jsonschema.Draft201909Validator(ndjson_schema)
    written = [name for name, rows in export.row_counts.items() if rows]
    assert len(written) == 19
    cells = 0
    for name in written:
        document = json.loads(files[f"{name.lower()}.json"])
        assert list(validator.iter_errors(document)) == [], name
        assert "ITEMGROUPDATASEQ" not in {c["name"] for c in document["columns"]}
        lines = files[f"{name.lower()}.ndjson"].decode().splitlines()
        head = json.loads(lines[0])
        # the NDJSON schema describes the first line; each further line is one row array
        assert list(ndjson_validator.iter_errors(head)) == [], name
        ndrows = [json.loads(line) for line in lines[1:]]
        assert head == {k: v for k, v in document.items() if k != "rows"}
        assert ndrows == document["rows"]
        assert document["records"] == len(document["rows"]) == export.row_counts[name]
        assert document["itemGroupOID"] == f"IG.{name}" and document["columns"][0]["itemOID"] == f"IT.{name}.STUDYID"

        frame, meta = read_xpt(files[f"{name.lower()}.xpt"])
        assert [c["name"] for c in document["columns"]] == meta.column_names
        assert {c["name"]: c["label"] for c in document["columns"]} == meta.column_names_to_labels
        types = [c["dataType"] for c in document["columns"]]
        for index, row in enumerate(document["rows"]):
            assert len(row) == len(types)
            for column, value, data_type in zip(meta.column_names, row, types, strict=True):
                assert same(value, frame[column][index], data_type), (name, column, index, value)
                cells += 1
    assert cells > 1500
    dm = json.loads(files["dm.json"])
    assert {c["name"]: c["dataType"] for c in dm["columns"]}["AGE"] == "integer"
    adsl = {c["name"]: c for c in json.loads(files["adsl.json"])["columns"]}
    assert (adsl["TRTSDT"]["dataType"], adsl["TRTSDT"]["targetDataType"]) == ("date", "integer")
