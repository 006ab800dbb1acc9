"""The panel entry page (issue 6 item 1): one collection on one page, all rows saved in one
transaction or none with per-field errors, the saved collection reopened with each row's
version, stale saves refused with the typed values kept, DESIGN §4a permissions and the
visibility gate (404 outside one's sites), and the page in Chinese."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal as D

import pytest

from crf.services import save
from labs.models import LabResult

pytestmark = pytest.mark.req("ISSUE-6")


def grid(**values) -> dict[str, str]:
    data = {"collected_on": "2026-03-02", "collected_time": "08:15", "sex": "F"}
    for code in ("WBC", "ANC", "ALC", "HGB", "PLT", "BLAST"):
        data.setdefault(f"{code}__unit", {"HGB": "g/L", "BLAST": "%"}.get(code, "10^9/L"))
    data.update(values)
    return data


def url_new(subject) -> str:
    return f"/subjects/{subject.pk}/labs/CBC/new/"


def test_panel_page_saves_every_typed_row_in_one_go(login, users_a, subject_a):
    client = login(users_a["coordinator"])
    response = client.post(
        url_new(subject_a),
        grid(
            WBC__value="4.2",
            ANC__value="2100",
            ANC__unit="/uL",
            HGB__value="9.8",
            HGB__unit="g/dL",
            HGB__lln="11.5",
            HGB__uln="15.0",
            mark_complete="on",
        ),
    )
    assert response.status_code == 302
    rows = {r.analyte: r for r in LabResult.objects.all()}
    assert sorted(rows) == ["ANC", "HGB", "WBC"]
    assert rows["ANC"].standard_value == D("2.1")
    assert (rows["HGB"].standard_value, rows["HGB"].flag) == (D("98"), "L")
    assert {r.entry_status for r in rows.values()} == {"complete"}
    assert {(r.collected_on, r.collected_time, r.sex) for r in rows.values()} == {(date(2026, 3, 2), time(8, 15), "F")}
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'value="9.8"' in page.content  # reopened with the values as reported


def test_one_bad_value_saves_nothing_and_names_the_field(login, users_a, subject_a):
    client = login(users_a["coordinator"])
    response = client.post(url_new(subject_a), grid(WBC__value="4.2", HGB__value="98", BLAST__value="130"))
    assert response.status_code == 200
    assert not LabResult.objects.exists()
    errors = response.context["form"].errors
    assert list(errors) == ["BLAST__value"]
    assert b'value="4.2"' in response.content  # what was typed stays on the page


def test_negative_count_and_anc_above_wbc_are_field_errors(login, users_a, subject_a):
    client = login(users_a["coordinator"])
    response = client.post(url_new(subject_a), grid(WBC__value="3.0", ANC__value="3.5", PLT__value="-1"))
    assert response.status_code == 200
    assert sorted(response.context["form"].errors) == ["ANC__value", "PLT__value"]
    assert not LabResult.objects.exists()


def test_reopened_collection_saves_with_versions_and_refuses_a_stale_save(login, users_a, subject_a):
    client = login(users_a["coordinator"])
    response = client.post(url_new(subject_a), grid(WBC__value="4.2", PLT__value="150"))
    edit_url = response["Location"]
    wbc = LabResult.objects.get(analyte="WBC")
    plt = LabResult.objects.get(analyte="PLT")
    opened = grid(WBC__value="4.2", PLT__value="155", WBC__version=str(wbc.version), PLT__version=str(plt.version))
    # another user corrects the platelets after the page was opened
    plt.value = D("160")
    save(user=users_a["investigator"], instance=plt, expected_version=plt.version)
    response = client.post(edit_url, opened)
    assert response.status_code == 200
    assert "Someone else saved this form" in str(response.context["form"].non_field_errors())
    assert b'value="155"' in response.content
    assert LabResult.objects.get(analyte="PLT").value == D("160")
    # with the current version the save goes through, and a new analyte joins the collection
    plt.refresh_from_db()
    response = client.post(edit_url, {**opened, "PLT__version": str(plt.version), "HGB__value": "101"})
    assert response.status_code == 302
    assert dict(LabResult.objects.values_list("analyte", "value")) == {
        "WBC": D("4.2"),
        "PLT": D("155"),
        "HGB": D("101"),
    }
    assert set(LabResult.objects.values_list("collected_time", flat=True)) == {time(8, 15)}


def test_complete_results_need_a_reason_for_change(login, users_a, subject_a):
    client = login(users_a["coordinator"])
    response = client.post(url_new(subject_a), grid(WBC__value="4.2", mark_complete="on"))
    wbc = LabResult.objects.get()
    data = grid(WBC__value="4.5", WBC__version=str(wbc.version), mark_complete="on")
    response = client.post(f"/subjects/{subject_a.pk}/labs/collections/{wbc.pk}/", data)
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert LabResult.objects.get().value == D("4.2")
    response = client.post(
        f"/subjects/{subject_a.pk}/labs/collections/{wbc.pk}/", {**data, "reason": "transcription error"}
    )
    assert response.status_code == 302
    assert LabResult.objects.get().value == D("4.5")


def test_site_isolation_and_roles(login, users_a, subject_a, subject_b):
    """DESIGN §4a: a monitor views but cannot save; another site's subject is 404."""
    coordinator = login(users_a["coordinator"])
    assert coordinator.get(url_new(subject_b)).status_code == 404
    assert coordinator.post(url_new(subject_b), grid(WBC__value="4")).status_code == 404
    coordinator.post(url_new(subject_a), grid(WBC__value="4.2"))
    wbc = LabResult.objects.get()
    coordinator.logout()
    monitor = login(users_a["monitor"])
    assert monitor.get(f"/subjects/{subject_a.pk}/labs/collections/{wbc.pk}/").status_code == 200
    assert monitor.post(f"/subjects/{subject_a.pk}/labs/collections/{wbc.pk}/", grid(WBC__value="5")).status_code == 403
    assert monitor.get(f"/subjects/{subject_b.pk}/labs/collections/{wbc.pk}/").status_code == 404
    assert LabResult.objects.get().value == D("4.2")


def test_the_generic_form_url_leads_to_the_panel_pages(login, users_a, subject_a):
    client = login(users_a["coordinator"])
    response = client.get(f"/subjects/{subject_a.pk}/forms/LB/new/?visit=7")
    assert response["Location"] == f"/subjects/{subject_a.pk}/labs/new/?visit=7"
    chooser = client.get(response["Location"])
    assert f"/subjects/{subject_a.pk}/labs/CBC/new/?visit=7".encode() in chooser.content


def test_panel_page_in_chinese(login, users_a, subject_a, compiled_catalogue):
    user = users_a["coordinator"]
    user.language = "zh-hans"
    user.save(update_fields=["language"])
    client = login(user)
    response = client.get(url_new(subject_a))
    assert response.status_code == 200
    text = response.content.decode()
    assert "血常规" in text
    assert "采集日期" in text
    assert "中性粒细胞绝对值（ANC）" in text
    assert "参考值下限" in text
    assert "×10⁹/L" in text


def test_casebook_shows_one_entry_per_collection(login, users_a, subject_a):
    from study.models import VisitDefinition
    from subjects.models import Visit

    definition = VisitDefinition.objects.create(
        study=subject_a.site.study, order=1, code="D1", name="Day 1", name_zh="第1天", anchor="infusion", day=1
    )
    visit = Visit.objects.create(subject=subject_a, definition=definition, planned_date=date(2026, 3, 2))
    client = login(users_a["coordinator"])
    client.post(url_new(subject_a), grid(WBC__value="4.2", HGB__value="98", PLT__value="150", visit=str(visit.pk)))
    page = client.get(f"/subjects/{subject_a.pk}/casebook/").content.decode()
    first = LabResult.objects.order_by("pk").first()
    assert page.count("Complete blood count 2026-03-02 08:15") == 1
    assert f"/subjects/{subject_a.pk}/forms/LB/{first.pk}/" in page


def test_a_saved_result_left_blank_is_marked_entered_in_error_with_the_reason(login, users_a, subject_a):
    client = login(users_a["coordinator"])
    edit_url = client.post(url_new(subject_a), grid(WBC__value="4.2", PLT__value="150"))["Location"]
    wbc = LabResult.objects.get(analyte="WBC")
    plt = LabResult.objects.get(analyte="PLT")
    data = grid(WBC__value="4.2", WBC__version=str(wbc.version), PLT__version=str(plt.version))
    response = client.post(edit_url, data)  # platelets blanked without a reason
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["PLT__value"]
    assert not LabResult.objects.filter(entered_in_error=True).exists()
    response = client.post(edit_url, {**data, "reason": "platelets belonged to another sample"})
    assert response.status_code == 302, response.context["form"].errors
    plt.refresh_from_db()
    assert (plt.entered_in_error, plt.error_reason) == (True, "platelets belonged to another sample")
    assert LabResult.objects.filter(entered_in_error=False).get().analyte == "WBC"
