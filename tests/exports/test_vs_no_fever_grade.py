"""SDTM VS carries the temperature, never a toxicity grade (issue 27 item 5): the fever grade a
vital-signs record shows stays on the page and in the API."""

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


def test_vs_export_has_no_fever_grade(world):
    subjects = populate_for_export(world)
    vs = record_vital_signs(
        user=world.coordinator,
        vital_signs=VitalSigns(subject=subjects["a"], assessment_date=day(3), temperature_c=Decimal("39.5")),
    )
    assert VitalSigns.objects.get(pk=vs.pk).fever_grade == 2
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=["DM", "VS"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    frame, meta = read_xpt(bytes(ExportFile.objects.get(export=export, name="vs.xpt").content))
    assert 39.5 in set(frame[frame["VSTESTCD"] == "TEMP"]["VSSTRESN"])
    assert not [name for name in meta.column_names if "TOX" in name or "GR" in name[-2:]]
    names = set(ExportFile.objects.filter(export=export).values_list("name", flat=True))
    for name in names:
        if name.startswith("suppvs") and name.endswith(".xpt"):
            supp, _meta = read_xpt(bytes(ExportFile.objects.get(export=export, name=name).content))
            assert not [q for q in set(supp["QNAM"]) if "FEV" in q or "TOX" in q]
