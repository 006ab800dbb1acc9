"""The sponsor's reports (issue 31 §3): query report (DCF), screening and enrolment log, subject
status summary and data-entry timeliness — on the page, as CSV and as XLSX, filtered by site and
date, through the visibility gate (DESIGN §4a)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from crf.queries import raise_query
from subjects.lifecycle import Event
from subjects.models import InformedConsent
from subjects.services import subject as services
from tests.conftest import make_user
from tests.subjects.conftest import ASSESSED, ELIGIBLE, protocol  # noqa: F401

pytestmark = pytest.mark.req("ISSUE-31")


@pytest.fixture
def study_data(site_a, site_b, users_a, protocol):  # noqa: F811
    """Site A: one screen failure (EX1 met, IN2 not) in March, two enrolled at DL1/DL2, one of them
    queried by the monitor. Site B: one subject in screening."""
    coordinator = users_a["coordinator"]

    def consent(site, user, on):
        return services.record_consent(user=user, site=site, consent_version="1.0", consent_date=on)

    failed = consent(site_a, coordinator, date(2026, 3, 1))
    services.record_eligibility(
        user=coordinator,
        subject=failed,
        protocol_version="2.1",
        assessment_date=ASSESSED,
        criteria={**ELIGIBLE, "IN2": False, "EX1": True},
    )
    services.change_status(
        user=coordinator, subject=failed, event=Event.FAIL_SCREENING, on=date(2026, 3, 4), reason="not eligible"
    )
    enrolled = []
    for level, on in (("DL1", date(2026, 3, 2)), ("DL2", date(2026, 4, 6))):
        subject = consent(site_a, coordinator, on)
        services.record_eligibility(
            user=coordinator, subject=subject, protocol_version="2.1", assessment_date=on, criteria=ELIGIBLE
        )
        enrolled.append(services.enrol(user=coordinator, subject=subject, on=on, dose_level=level))
    coordinator_b = make_user("coordinator_b", site=site_b, role="coordinator")
    consent(site_b, coordinator_b, date(2026, 4, 10))
    consent_form = InformedConsent.objects.get(subject=enrolled[0])
    raise_query(user=users_a["monitor"], form=consent_form, field_name="consent_date", text="Date per source?")
    return {"failed": failed, "enrolled": enrolled}


@pytest.fixture
def data_manager_both(site_a, site_b):
    user = make_user("dm_both", site=site_a, role="data_manager")
    from study.models import Membership

    Membership.objects.create(user=user, site=site_b, role="data_manager", granted_at=user.date_joined)
    return user


def rows_of_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_screening_log_lists_criteria_not_met_and_counts_by_month(study_data, data_manager_both, login):
    client = login(data_manager_both)
    page = client.get("/data/reports/screening/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "IN2 ECOG performance status 0–2; EX1 Active uncontrolled infection" in text
    rows = rows_of_csv(client.get("/data/reports/screening/?format=csv").content)
    counts_header = rows.index(["Month", "Dose level", "Screened", "Screen failures", "Enrolled", "Infused"])
    counts = rows[counts_header + 1 : counts_header + 6]
    assert counts == [
        ["2026-03", "—", "2", "1", "0", "0"],
        ["2026-03", "DL1", "0", "0", "1", "0"],
        ["2026-04", "—", "2", "0", "0", "0"],
        ["2026-04", "DL2", "0", "0", "1", "0"],
        [],
    ]
    log_header = rows.index(
        [
            "Site",
            "Subject",
            "Screening number",
            "Consent date",
            "Status",
            "Screen failure",
            "Criteria not met",
            "Enrolment date",
            "Dose level",
            "Infusion date (day 0)",
        ]
    )
    log = [r for r in rows[log_header + 1 :] if r]
    assert len(log) == 4  # three at site A, one at site B
    failure = next(r for r in log if r[5] == "Yes")
    assert (failure[3], failure[4]) == ("2026-03-01", "Screen failure")


def test_reports_follow_the_visibility_gate_and_the_site_filter(study_data, users_a, data_manager_both, login):
    coordinator_a = login(users_a["coordinator"])
    log = rows_of_csv(coordinator_a.get("/data/reports/screening/?format=csv").content)
    assert not any(row and row[0].startswith("02 ") for row in log)
    assert coordinator_a.get("/data/reports/screening/?site=02").status_code == 404
    coordinator_a.logout()
    statistician = login(users_a["statistician"])
    assert statistician.get("/data/reports/queries/").status_code == 403
    statistician.logout()
    both = login(data_manager_both)
    only_b = rows_of_csv(both.get("/data/reports/status/?site=02&format=csv").content)
    assert only_b[1] == ["Status", "02 Site B", "Total"]
    screening = next(r for r in only_b if r and r[0] == "Screening")
    assert screening == ["Screening", "1", "1"]


def test_query_report_has_status_age_form_field_text_and_xlsx(study_data, users_a, login):
    client = login(users_a["monitor"])
    rows = rows_of_csv(client.get("/data/reports/queries/?format=csv").content)
    header = rows.index(
        [
            "Site",
            "Subject",
            "Form",
            "Field",
            "Status",
            "Raised at",
            "Raised by",
            "Age (days)",
            "Query text",
            "Answer",
            "Answered at",
            "Closed at",
        ]
    )
    manual = [r for r in rows[header + 1 :] if r and r[6] == "monitor_a"]
    assert len(manual) == 1
    site, subject, form, field, status, raised_at, _by, age, text, answer, _answered, _closed = manual[0]
    assert (site, subject, form, field, status, age, text, answer) == (
        "01 Site A",
        study_data["enrolled"][0].subject_id,
        "informed consent",
        "consent date",
        "Open",
        "0",
        "Date per source?",
        "",
    )
    assert raised_at.endswith("+08:00")  # site time with its zone
    workbook = load_workbook(io.BytesIO(client.get("/data/reports/queries/?format=xlsx").content))
    assert workbook.sheetnames[:2] == ["1 Queries by site and status", "2 Queries"]
    sheet = workbook["2 Queries"]
    assert [c.value for c in sheet[2]][:3] == ["Site", "Subject", "Form"]
    assert any(row[8] == "Date per source?" for row in sheet.iter_rows(min_row=3, values_only=True))


def test_date_filter_and_bad_dates(study_data, data_manager_both, login):
    client = login(data_manager_both)
    april = rows_of_csv(client.get("/data/reports/screening/?from=2026-04-01&to=2026-04-30&format=csv").content)
    consent_dates = sorted(r[3] for r in april if len(r) == 10 and r[3].startswith("2026"))
    assert consent_dates == ["2026-04-06", "2026-04-10"]
    bad = client.get("/data/reports/screening/?from=2026-13-01")
    assert bad.status_code == 400
    assert "enter a date as YYYY-MM-DD" in bad.content.decode()
    assert client.get("/data/reports/screening/?format=pdf").status_code == 400
    assert client.get("/data/reports/nonsense/").status_code == 404


def test_timeliness_counts_days_from_clinical_date_to_entry(study_data, data_manager_both, login):
    client = login(data_manager_both)
    rows = rows_of_csv(client.get("/data/reports/timeliness/?format=csv").content)
    consents = [r for r in rows if len(r) == 7 and r[1] == "informed consent"]
    site_a = next(r for r in consents if r[0] == "01 Site A")
    assert site_a[2] == "3"  # three consents entered at site A
    assert int(site_a[5]) > 200  # entered in December for March/April dates: all late
    assert site_a[6] == "3"


def test_home_links_the_reports_for_crf_readers_only(study_data, users_a, login):
    client = login(users_a["monitor"])
    assert 'href="/data/reports/"' in client.get("/").content.decode()
    assert client.get("/data/reports/").status_code == 200
    client.logout()
    statistician = login(users_a["statistician"])
    assert 'href="/data/reports/"' not in statistician.get("/").content.decode()
    assert statistician.get("/data/reports/").status_code == 403


def test_chinese_page(study_data, users_a, login):
    user = users_a["data_manager"]
    user.language = "zh-hans"
    user.save(update_fields=["language"])
    client = login(user)
    text = client.get("/data/reports/screening/").content.decode()
    assert "筛选和入组日志" in text
