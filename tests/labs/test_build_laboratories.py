"""Study build, laboratories (issue 27 item 1): the study admin adds a site's laboratories
(several per site) and their reference ranges with an effective date, on pages (DESIGN §4a: study
admin only, others 403). A result is judged by the range of its laboratory in force on its
collection date; a new range re-derives the results it judges (flag and lab-derived CTCAE grade,
CLINICAL_SPEC §3: platelets below the LLN and above 75 ×10⁹/L are grade 1) through crf.rederive."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from labs.build import add_reference_range, save_laboratory
from labs.models import Laboratory, LabResult, ReferenceRange
from study.roles import Role
from tests.labs.test_lab_results import result

pytestmark = pytest.mark.req("ISSUE-27")

LIST = "/admin/laboratories/"


@pytest.fixture
def two_labs(site_a, users_a):
    admin = users_a["study_admin"]
    central = save_laboratory(
        actor=admin,
        site=site_a,
        laboratory=None,
        code="CL",
        name="Central lab",
        name_zh="中心实验室",
        active=True,
        reason="set-up",
    )
    ward = save_laboratory(
        actor=admin,
        site=site_a,
        laboratory=None,
        code="WL",
        name="Ward lab",
        name_zh="病房实验室",
        active=True,
        reason="set-up",
    )
    return central, ward


def _range(lab, **values) -> dict[str, str]:
    data = {
        "form": "range",
        "range-analyte": "PLT",
        "range-unit": "10^9/L",
        "range-sex": "",
        "range-age_from": "0",
        "range-age_to": "",
        "range-lln": "80",
        "range-uln": "350",
        "range-effective_from": "",
        "range-reason": "",
    }
    data.update({f"range-{k}": v for k, v in values.items()})
    return data


def test_only_the_study_admin_reaches_the_laboratory_pages(site_a, users_a, two_labs, login, client):
    central, _ward = two_labs
    detail = f"/admin/laboratories/{central.pk}/"
    for role in Role:
        client.logout()
        login(users_a[role.value])
        expected = 200 if role == Role.STUDY_ADMIN else 403
        assert client.get(LIST).status_code == expected, role
        assert client.get(detail).status_code == expected, role
        assert client.post(detail, _range(central)).status_code == (302 if role == Role.STUDY_ADMIN else 403), role
    assert ReferenceRange.objects.filter(laboratory=central).count() == 1


def test_admin_adds_a_laboratory_on_the_page(site_a, users_a, login, client):
    login(users_a["study_admin"])
    answer = client.post(
        LIST, {"site": site_a.pk, "code": "CL", "name": "Central lab", "name_zh": "中心实验室", "active": "on"}
    )
    lab = Laboratory.objects.get(site=site_a, code="CL")
    assert answer.status_code == 302 and answer["Location"] == f"/admin/laboratories/{lab.pk}/"
    assert lab.events.get().pgh_context["username"] == "study_admin_a"
    # the same code twice at one site: a field error, nothing saved
    answer = client.post(LIST, {"site": site_a.pk, "code": "CL", "name": "Again", "name_zh": "再次", "active": "on"})
    assert answer.status_code == 200 and "code" in answer.context["form"].errors
    assert Laboratory.objects.filter(site=site_a).count() == 1


def test_results_follow_the_range_of_their_laboratory_in_force_on_their_date(
    site_a, users_a, subject_a, two_labs, login, client
):
    central, ward = two_labs
    coordinator = users_a["coordinator"]
    login(users_a["study_admin"])
    assert (
        client.post(f"/admin/laboratories/{central.pk}/", _range(central, lln="80", reason="set-up")).status_code == 302
    )
    assert client.post(f"/admin/laboratories/{ward.pk}/", _range(ward, lln="80", reason="set-up")).status_code == 302
    early = result(
        coordinator, subject_a, analyte="PLT", value=D("90"), collected_on=date(2026, 3, 1), laboratory=central
    )
    late = result(
        coordinator, subject_a, analyte="PLT", value=D("90"), collected_on=date(2026, 3, 9), laboratory=central
    )
    other = result(
        coordinator, subject_a, analyte="PLT", value=D("90"), collected_on=date(2026, 3, 10), laboratory=ward
    )
    for row in (early, late, other):
        assert (row.flag, row.ctcae_grade, row.standard_lln) == ("N", 0, D("80")), row
    # the central lab's new analyser from 5 March: LLN 100 → 90 is low, CTCAE grade 1
    answer = client.post(
        f"/admin/laboratories/{central.pk}/",
        _range(central, lln="100", effective_from="2026-03-05", reason="new analyser"),
    )
    assert answer.status_code == 302
    for row in (early, late, other):
        row.refresh_from_db()
    assert (early.flag, early.ctcae_grade, early.version) == ("N", 0, 1)  # before the date: old range
    assert (late.flag, late.ctcae_grade, late.version) == ("L", 1, 2)  # re-derived
    assert (other.flag, other.ctcae_grade, other.version) == ("N", 0, 1)  # another laboratory
    event = late.events.order_by("-pgh_id").first()
    assert event.pgh_context["reason"].startswith("re-derived: reference range PLT changed")
    page = client.get(f"/admin/laboratories/{central.pk}/").content.decode()
    assert "2026-03-05" in page and page.count("In force</span>") == 1
    # a new result of the central lab collected later is judged by the new range at once
    new = result(
        coordinator, subject_a, analyte="PLT", value=D("90"), collected_on=date(2026, 3, 12), laboratory=central
    )
    assert (new.flag, new.ctcae_grade) == ("L", 1)


def test_bad_ranges_are_field_errors_and_nothing_is_saved(site_a, users_a, two_labs, login, client):
    central, _ward = two_labs
    login(users_a["study_admin"])
    url = f"/admin/laboratories/{central.pk}/"
    assert client.post(url, _range(central)).status_code == 302
    for values, field in (
        ({"lln": "400", "uln": "350"}, "uln"),
        ({"unit": "g/L"}, "unit"),
        ({"age_from": "18", "age_to": "12"}, "age_to"),
        ({"lln": "", "uln": ""}, "lln"),
        ({}, "effective_from"),  # the same band from the same date again
    ):
        answer = client.post(url, _range(central, **values))
        assert answer.status_code == 200, values
        assert field in answer.context["range_form"].errors, (values, answer.context["range_form"].errors)
    assert ReferenceRange.objects.filter(laboratory=central).count() == 1


def test_a_laboratory_of_another_site_is_refused_on_a_result(site_a, site_b, users_a, subject_a):
    from django.core.exceptions import ValidationError

    other = Laboratory.objects.create(site=site_b, code="BL", name="Site B lab", name_zh="乙实验室")
    with pytest.raises(ValidationError) as refused:
        result(users_a["coordinator"], subject_a, analyte="PLT", value=D("90"), laboratory=other)
    assert "laboratory" in refused.value.message_dict
    assert not LabResult.objects.filter(subject=subject_a).exists()


def test_a_live_study_needs_a_reason(site_a, users_a, subject_a, two_labs):
    from django.core.exceptions import ValidationError

    central, _ward = two_labs
    with pytest.raises(ValidationError) as refused:
        add_reference_range(
            actor=users_a["study_admin"],
            laboratory=central,
            analyte="PLT",
            unit="10^9/L",
            sex="",
            age_from=0,
            age_to=None,
            lln=D("100"),
            uln=D("350"),
            effective_from=None,
        )
    assert "reason" in refused.value.message_dict
    assert not ReferenceRange.objects.exists()
