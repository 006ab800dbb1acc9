"""Exports carry the CRF versions (issue 27 item 3): VS takes the respiratory rate of records
entered under vital signs 1.1 (VSTESTCD RESP) and none from records entered under 1.0, and the
dataset's note and the define metadata say which version added the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exports import services
from exports.models import ExportFile, ExportStatus
from labs.models import VitalSigns
from labs.services import record_vital_signs
from tests.exports.conftest import CUTOFF, day, populate_for_export
from tests.exports.test_exports import read_xpt

pytestmark = pytest.mark.req("ISSUE-27")

NOTE = (
    "VSTESTCD RESP comes from the field respiratory_rate added in CRF VS version 1.1: records entered "
    "under an earlier version have none (not collected, not missing)."
)


def test_vs_export_and_define_name_the_crf_versions(world):
    subjects = populate_for_export(world)
    old = record_vital_signs(
        user=world.coordinator,
        vital_signs=VitalSigns(subject=subjects["a"], assessment_date=day(2), heart_rate=80),
    )
    VitalSigns.objects.filter(pk=old.pk).update(crf_version="1.0")
    record_vital_signs(
        user=world.coordinator,
        vital_signs=VitalSigns(
            subject=subjects["a"], assessment_date=day(3), temperature_c=Decimal("37.2"), respiratory_rate=22
        ),
    )
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=["DM", "VS"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert not [f for f in export.conformance if f["severity"] == "error" and f["dataset"] == "VS"]
    frame, _meta = read_xpt(bytes(ExportFile.objects.get(export=export, name="vs.xpt").content))
    resp = frame[frame["VSTESTCD"] == "RESP"]
    assert [(r["VSSTRESN"], r["VSSTRESU"], r["VSTEST"]) for r in resp.to_dict("records")] == [
        (22.0, "breaths/min", "Respiratory Rate")
    ]
    define = bytes(ExportFile.objects.get(export=export, name="define.xml").content).decode()
    assert NOTE in define
    assert "CRF VS versions: 1.0; 1.1 (2026-12-06) added respiratory_rate." in define
