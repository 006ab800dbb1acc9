"""The record history page (issue 3 item 1; DESIGN §4 "Audit trail", §4a "view record history")."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from labs.services import record_vital_signs
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-3")

#: DESIGN §4a "view record history": coordinator, investigator, monitor, data manager, study admin.
HISTORY = {
    "coordinator": 200,
    "investigator": 200,
    "monitor": 200,
    "data_manager": 200,
    "statistician": 403,
    "study_admin": 200,
}


@pytest.fixture
def edited(study, subject_a, users_a):
    protocol_v1(study)
    identity(subject_a)
    coordinator = users_a["coordinator"]
    vs = vital_signs(coordinator, subject_a, temperature_c=Decimal("37.0"), entry_status="complete")
    vs.temperature_c = Decimal("38.6")
    return record_vital_signs(user=coordinator, vital_signs=vs, expected_version=1, reason="corrected from chart")


def test_history_shows_who_what_when_why(edited, users_a, login, client):
    login(users_a["monitor"])
    page = client.get(f"/history/labs.vitalsigns/{edited.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "corrected from chart" in text
    assert "coordinator_a" in text
    assert "37.0" in text and "38.6" in text
    assert "Asia/Shanghai" in text


@pytest.mark.parametrize(("role", "status"), sorted(HISTORY.items()))
def test_history_access_by_role(edited, users_a, login, client, role, status):
    login(users_a[role])
    assert client.get(f"/history/labs.vitalsigns/{edited.pk}/").status_code == status


def test_other_site_and_guessed_records_are_404(edited, subject_b, users_a, login, client):
    login(users_a["monitor"])
    assert client.get(f"/history/labs.vitalsigns/{edited.pk + 999}/").status_code == 404
    assert client.get("/history/labs.vitalsigns/abc/").status_code == 404
    assert client.get("/history/nosuch.model/1/").status_code == 404
    assert client.get("/history/study.membership/1/").status_code == 404
    assert client.get(f"/history/subjects.subject/{subject_b.pk}/").status_code == 404


def test_identity_values_masked_for_roles_without_identity_access(subject_a, users_a, login, client):
    record = identity(subject_a)
    login(users_a["data_manager"])
    page = client.get(f"/history/subjects.identityrecord/{record.pk}/").content.decode()
    assert "张三" not in page and "•••" in page
    client.logout()
    login(users_a["monitor"])
    page = client.get(f"/history/subjects.identityrecord/{record.pk}/").content.decode()
    assert "张三" in page


def test_the_heading_names_the_record_by_form_subject_and_date_in_both_languages(edited, users_a, login, client):
    """Not by the model's __str__ ("… VS 2026-03-02", "… ST hsct …"), which shows stored codes."""
    monitor = users_a["monitor"]
    login(monitor)
    for language, expected in (
        ("en", f"Record history: vital signs · {edited.subject} · 2026-03-02"),
        ("zh-hans", f"记录历史: 生命体征 · {edited.subject} · 2026-03-02"),
    ):
        monitor.language = language
        monitor.save(update_fields=["language"])
        page = client.get(f"/history/labs.vitalsigns/{edited.pk}/").content.decode()
        heading = " ".join(re.search(r"<h1>(.*?)</h1>", page, re.S).group(1).split())
        assert heading == expected
        assert " VS " not in heading


def test_a_query_history_names_its_form_reference_in_the_readers_language(edited, users_a, login, client):
    """The bilingual walk (2026-12-07): a query's history listed its generic reference under
    Django's own "content type" and "object id", in English on the Chinese page."""
    from crf.queries import raise_query

    monitor = users_a["monitor"]
    query = raise_query(user=monitor, form=edited, field_name="temperature_c", text="Please check the chart.")
    login(monitor)
    for language, names in (("en", ("form", "record number")), ("zh-hans", ("病例报告表", "记录编号"))):
        monitor.language = language
        monitor.save(update_fields=["language"])
        page = client.get(f"/history/crf.query/{query.pk}/")
        assert page.status_code == 200
        text = page.content.decode()
        assert "content type" not in text and "object id" not in text
        for name in names:
            assert f">{name}<" in text


def test_a_query_closed_by_the_system_reads_its_note_in_the_readers_language(edited, users_a, login, client):
    """The bilingual walk (2026-12-07): the system's closing note was stored in the saver's
    language ("The form was entered in error.") and shown so to every reader; now stored in
    English and shown in the reader's, rows stored in Chinese before included."""
    from crf.models import Query
    from crf.queries import raise_query
    from crf.services import mark_entered_in_error

    monitor, coordinator = users_a["monitor"], users_a["coordinator"]
    query = raise_query(user=monitor, form=edited, field_name="temperature_c", text="Please check the chart.")
    older = raise_query(user=monitor, form=edited, field_name="heart_rate", text="Please check the rate.")
    mark_entered_in_error(user=coordinator, instance=edited, expected_version=edited.version, reason="wrong subject")
    assert Query.objects.get(pk=query.pk).close_reason == "The form was entered in error."
    Query.objects.filter(pk=older.pk).update(close_reason="该病例报告表已标记为录入错误。")  # as stored before
    login(monitor)
    for language, note in (("en", "The form was entered in error."), ("zh-hans", "该病例报告表已标记为录入错误。")):
        monitor.language = language
        monitor.save(update_fields=["language"])
        for pk in (query.pk, older.pk):
            text = client.get(f"/history/crf.query/{pk}/").content.decode()
            assert note in text
            other = "该病例报告表已标记为录入错误。" if language == "en" else "The form was entered in error."
            assert other not in text
