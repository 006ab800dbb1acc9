"""A changed site reference range re-derives its lab results through crf.rederive (issue 22
item 1): the results' edit checks run on the re-derived values, a frozen result keeps its values
with a query saying why, and a locked result that would change refuses the range change."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from crf import checks, declarations, locks
from crf.declarations import declaration_for
from crf.models import Query
from crf.rederive import FROZEN_RULE
from labs.models import LabResult, ReferenceRange
from labs.services import record_reference_range
from tests.labs.test_lab_results import result

pytestmark = pytest.mark.req("ISSUE-22")


@pytest.fixture
def flag_low_check(monkeypatch):
    """An edit check that reads a derived field (the flag), declared for this test only."""

    @checks.edit_check(code="TEST-FLAG-LOW", field="flag", message="Below the site's range.")
    def fires(row: LabResult) -> bool:
        return row.flag == "L"

    declared = declaration_for(LabResult)
    monkeypatch.setitem(declarations._declared, LabResult, replace(declared, checks=(*declared.checks, fires)))


def test_edit_checks_run_on_the_rederived_result(users_a, subject_a, site_a, flag_low_check):
    coordinator = users_a["coordinator"]
    plt_range = ReferenceRange.objects.create(site=site_a, analyte="PLT", unit="10^9/L", lln=D("100"), uln=D("300"))
    row = result(coordinator, subject_a, analyte="PLT", value=D("120"))
    assert not Query.objects.filter(object_id=row.pk, rule_code="TEST-FLAG-LOW").exists()
    plt_range.lln = D("125")
    record_reference_range(user=coordinator, reference_range=plt_range, reason="new analyser")
    row.refresh_from_db()
    assert (row.flag, row.version) == ("L", 2)
    query = Query.objects.get(object_id=row.pk, rule_code="TEST-FLAG-LOW")
    assert query.status == "open"


def test_a_frozen_result_keeps_its_values_with_a_query_saying_why(users_a, subject_a, site_a):
    coordinator, data_manager = users_a["coordinator"], users_a["data_manager"]
    plt_range = ReferenceRange.objects.create(site=site_a, analyte="PLT", unit="10^9/L", lln=D("100"), uln=D("300"))
    row = result(coordinator, subject_a, analyte="PLT", value=D("120"))
    locks.set_data_lock(user=data_manager, kind="freeze", study=site_a.study, form=row, reason="interim review")
    plt_range.lln = D("125")
    assert record_reference_range(user=coordinator, reference_range=plt_range, reason="new analyser") == []
    row.refresh_from_db()
    assert (row.flag, row.version) == ("N", 1)
    query = Query.objects.get(object_id=row.pk, rule_code=FROZEN_RULE)
    assert "frozen" in query.text and "new analyser" in query.text
    assert "N → L" in query.text
    # stored as a code with parameters (issue 25): a Chinese reader reads it in Chinese, reason included
    from django.utils import translation

    from crf.display import render_message

    with translation.override("zh-hans"):
        shown = render_message(query.text_code, query.text_params)
    assert shown.startswith("该表已冻结，未重新推导（") and "N → L" in shown and "new analyser" in shown


def test_a_locked_result_that_would_change_refuses_the_range_change(users_a, subject_a, site_a):
    coordinator, data_manager = users_a["coordinator"], users_a["data_manager"]
    plt_range = ReferenceRange.objects.create(site=site_a, analyte="PLT", unit="10^9/L", lln=D("100"), uln=D("300"))
    row = result(coordinator, subject_a, analyte="PLT", value=D("120"))
    locks.set_data_lock(user=data_manager, kind="lock", study=site_a.study, form=row, reason="database lock")
    plt_range.lln = D("125")
    with pytest.raises(ValidationError) as refused:
        record_reference_range(user=coordinator, reference_range=plt_range, reason="new analyser")
    assert refused.value.code == "dependant_locked"
    assert "locked" in refused.value.messages[0] and subject_a.subject_id in refused.value.messages[0]
    row.refresh_from_db()
    assert (row.flag, row.version) == ("N", 1)
    assert ReferenceRange.objects.get(pk=plt_range.pk).lln == D("100")


def test_a_rederived_result_breaks_the_signature_that_covers_it(users_a, subject_a, site_a, rf):
    """DESIGN §4 / issue 26: a signature breaks on any change of covered content, whatever the
    write path; here the change is a re-derivation (crf.rederive) after a reference-range change,
    and the result's own audit row names the signature it broke."""
    from datamanagement import signatures
    from labs.models import LabResultEvent
    from tests.conftest import PASSWORD

    coordinator, investigator = users_a["coordinator"], users_a["investigator"]
    plt_range = ReferenceRange.objects.create(site=site_a, analyte="PLT", unit="10^9/L", lln=D("100"), uln=D("300"))
    row = result(coordinator, subject_a, analyte="PLT", value=D("120"))
    request = rf.post("/")
    request.session = {}
    signed = signatures.sign(
        request=request,
        user=investigator,
        subject=subject_a,
        scope="form",
        form=row,
        meaning="reviewed",
        username=investigator.username,
        password=PASSWORD,
    )
    assert signatures.verify(signed).matches is True
    plt_range.lln = D("125")
    record_reference_range(user=coordinator, reference_range=plt_range, reason="new analyser")
    row.refresh_from_db()
    signed.refresh_from_db()
    assert (row.flag, row.version) == ("L", 2)
    assert signed.broken_at is not None
    assert signatures.verify(signed).matches is False
    event = LabResultEvent.objects.filter(pgh_obj_id=row.pk).order_by("-pgh_id").first()
    assert event.pgh_context["broken_signatures"] == [signed.pk]
