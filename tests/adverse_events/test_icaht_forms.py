"""ICAHT per subject (CLINICAL_SPEC §4.1, §8; DESIGN §4 "re-derived: …"): derived from the ANC
lab results through the save path, stored with its inputs and criteria, re-derived when an ANC
is corrected or entered in error, shown on the ICAHT page and the casebook; lymphopenia is not
ICAHT; sparse data; site isolation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from adverse_events.models import IcahtDerivation
from crf.services import mark_entered_in_error, save
from labs.models import LabResult
from tests.adverse_events.conftest import day

pytestmark = pytest.mark.req("ISSUE-10")


def anc(user, subject, study_day: int, value: str, unit: str = "10^9/L", analyte: str = "ANC") -> LabResult:
    return save(
        user=user,
        instance=LabResult(
            subject=subject,
            collected_on=day(study_day),
            panel="CBC",
            analyte=analyte,
            value=D(value),
            unit=unit,
        ),
        expected_version=None,
    )


def enter_series(user, subject, values: dict[int, str], unit: str = "10^9/L") -> None:
    for study_day, value in values.items():
        anc(user, subject, study_day, value, unit)


def span(first: int, last: int, value: str) -> dict[int, str]:
    return dict.fromkeys(range(first, last + 1), value)


S8_EXAMPLES = [
    ("ANC ≤ 500 on days 1–5 only → early G1", {0: "1.2", **span(1, 5, "0.4"), 6: "1.5", 30: "2.0"}, "10^9/L", 1, None),
    ("days 0–10 → G2", {**span(0, 10, "0.3"), 11: "2.0", 30: "2.2"}, "10^9/L", 2, None),
    (
        "20 days including 3 days ≤ 100 → G3",
        {**span(0, 4, "0.3"), 5: "0.05", 6: "0.05", 7: "0.05", 8: "0.3", 19: "0.3", 20: "1.8"},
        "10^9/L",
        3,
        None,
    ),
    ("≤ 100 for 14 days → G4", {**span(0, 13, "0.08"), 14: "0.9", 30: "1.1"}, "10^9/L", 4, None),
    (
        "ANC 600–900 throughout days 0–30 → none",
        {0: "0.6", 7: "0.9", 14: "0.75", 21: "0.6", 30: "0.9"},
        "10^9/L",
        0,
        None,
    ),
    ("day 60 ANC 0.8 confirmed → late G2", {28: "2.0", 60: "0.8", 67: "0.8"}, "10^9/L", 0, 2),
    (
        "ANC/µL 400, 600 day 5, 300 day 6, 800 day 14 → one 14-day run → G3",
        {0: "400", 5: "600", 6: "300", 14: "800", 21: "1200", 30: "1500"},
        "/uL",
        3,
        None,
    ),
]


@pytest.mark.parametrize(("label", "values", "unit", "early", "late"), S8_EXAMPLES, ids=[e[0] for e in S8_EXAMPLES])
def test_s8_icaht_examples_through_the_save_path(infused, coordinator, label, values, unit, early, late):
    subject = infused()
    enter_series(coordinator, subject, values, unit)
    stored = IcahtDerivation.objects.get(subject=subject)
    assert (stored.early_grade, stored.late_grade) == (early, late)
    assert stored.criteria == "EHA-EBMT-2023"
    assert len(stored.inputs) == len(values)


def test_the_per_microlitre_example_stores_its_run_and_inputs_in_standard_units(infused, coordinator):
    subject = infused()
    enter_series(coordinator, subject, {0: "400", 5: "600", 6: "300", 14: "800"}, "/uL")
    stored = IcahtDerivation.objects.get(subject=subject)
    assert (stored.early_run_first_day, stored.early_run_last_day, stored.early_run_days) == (0, 13, 14)
    assert [(row["day"], row["anc"]) for row in stored.inputs] == [(0, "0.4"), (5, "0.6"), (6, "0.3"), (14, "0.8")]


def test_an_anc_correction_rederives_icaht_with_the_audit_reason(infused, coordinator):
    subject = infused()
    enter_series(coordinator, subject, {**span(0, 6, "0.3"), 7: "1.5"})
    assert IcahtDerivation.objects.get(subject=subject).early_grade == 2
    day_7 = LabResult.objects.get(subject=subject, collected_on=day(7))
    day_7.value = D("0.2")
    save(user=coordinator, instance=day_7, expected_version=day_7.version)
    stored = IcahtDerivation.objects.get(subject=subject)
    assert (stored.early_grade, stored.early_run_days) == (2, 8)
    latest = stored.events.order_by("-pgh_id").first()
    assert latest is not None
    assert latest.pgh_context["reason"] == f"re-derived: ANC of {day(7).isoformat()} corrected"


def test_an_anc_entered_in_error_rederives_icaht(infused, coordinator):
    subject = infused()
    enter_series(coordinator, subject, {0: "0.3", 7: "0.3", 14: "1.5"})
    assert IcahtDerivation.objects.get(subject=subject).early_grade == 3  # days 0–13
    day_7 = LabResult.objects.get(subject=subject, collected_on=day(7))
    mark_entered_in_error(user=coordinator, instance=day_7, expected_version=day_7.version, reason="wrong patient")
    stored = IcahtDerivation.objects.get(subject=subject)
    assert (stored.early_grade, len(stored.inputs)) == (3, 2)  # day 0 carries to day 13 still
    latest = stored.events.order_by("-pgh_id").first()
    assert latest.pgh_context["reason"] == f"re-derived: ANC of {day(7).isoformat()} entered in error"


def test_universal_lymphopenia_after_lymphodepletion_is_not_icaht(infused, coordinator):
    """ALC ≤ 0.1 ×10⁹/L every day of the window with normal ANC: no ICAHT, no derivation input."""
    subject = infused()
    for study_day in range(0, 28):
        anc(coordinator, subject, study_day, "0.05", analyte="ALC")
    enter_series(coordinator, subject, {0: "2.1", 14: "1.9", 28: "2.4"})
    stored = IcahtDerivation.objects.get(subject=subject)
    assert (stored.early_grade, stored.early_run_first_day, len(stored.inputs)) == (0, None, 3)


def test_sparse_data_single_value_and_none_in_the_window(infused, coordinator):
    subject = infused()
    assert not IcahtDerivation.objects.filter(subject=subject).exists()
    anc(coordinator, subject, 45, "0.3")  # after day 30 only: early not assessable, late unconfirmed
    stored = IcahtDerivation.objects.get(subject=subject)
    assert (stored.early_grade, stored.late_grade) == (None, None)
    anc(coordinator, subject, 12, "0.05")
    stored.refresh_from_db()
    assert (stored.early_grade, stored.early_run_days, stored.late_grade) == (1, 1, None)


def test_icaht_page_and_casebook_show_the_stored_grades(infused, coordinator, login):
    subject = infused()
    enter_series(coordinator, subject, {**span(0, 10, "0.3"), 11: "2.0", 60: "0.8", 67: "0.8"})
    client = login(coordinator)
    page = client.get(f"/safety/subjects/{subject.pk}/icaht/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-icaht-early="2"' in html
    assert 'data-icaht-late="2"' in html
    assert "days 0 to 10 (11 days)" in html
    assert "EHA-EBMT-2023" in html
    casebook = client.get(f"/subjects/{subject.pk}/casebook/").content.decode()
    assert "early grade 2" in casebook and "late grade 2" in casebook


def test_icaht_page_in_chinese(infused, coordinator, login):
    coordinator.language = "zh-hans"
    coordinator.save(update_fields=["language"])
    subject = infused()
    enter_series(coordinator, subject, {**span(0, 10, "0.3"), 11: "2.0"})
    client = login(coordinator)
    html = client.get(f"/safety/subjects/{subject.pk}/icaht/").content.decode()
    assert "免疫效应细胞相关血液学毒性" in html


def test_icaht_page_is_closed_to_other_sites_and_non_crf_roles(infused, users_a, login, other_coordinator, subject_b):
    subject = infused()
    assert login(other_coordinator).get(f"/safety/subjects/{subject.pk}/icaht/").status_code == 404
    assert login(users_a["statistician"]).get(f"/safety/subjects/{subject.pk}/icaht/").status_code in (403, 404)


def test_a_relapse_rederives_late_icaht_without_the_values_it_explains(infused, coordinator):
    """§4.1 late ICAHT is "not explained by relapse": values from the relapse date on drop out."""
    from response.models import Relapse

    subject = infused()
    enter_series(coordinator, subject, {40: "0.3", 47: "0.3"})
    assert IcahtDerivation.objects.get(subject=subject).late_grade == 3
    save(
        user=coordinator,
        instance=Relapse(subject=subject, relapse_date=day(40), site_marrow=True, blast_cd7_status="negative"),
        expected_version=None,
    )
    stored = IcahtDerivation.objects.get(subject=subject)
    assert (stored.late_grade, stored.relapse_day) == (None, 40)
    assert stored.events.order_by("-pgh_id").first().pgh_context["reason"] == "re-derived: relapse saved"
