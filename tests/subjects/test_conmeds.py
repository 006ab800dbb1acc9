"""Concomitant medications (issue 5 item 2, CLINICAL_SPEC §1.2 b): the category is the
coordinator's, pre-filled from the ATC code when left empty (never from the verbatim name),
overridable (queried), stop before start refused with a field error, corticosteroids carry a
dexamethasone equivalent; the form page pre-fills live through a self-hosted script."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from clinical.conmeds import MedicationCategory
from crf.declarations import declaration_for
from crf.models import Query
from crf.services import save
from subjects.models import ConcomitantMedication, ConmedCategory

pytestmark = pytest.mark.req("ISSUE-5")


def conmed(user, subject, **values) -> ConcomitantMedication:
    data = {
        "medication_name": "泰诺林 (对乙酰氨基酚)",
        "atc_code": "",
        "dose": Decimal("500"),
        "dose_unit": "mg",
        "route": "oral",
        "start_date": date(2026, 3, 16),
        "stop_date": date(2026, 3, 17),
        "indication": "fever",
        "category": "",
    }
    data.update(values)
    return save(user=user, instance=ConcomitantMedication(subject=subject, **data), expected_version=None)


def category_queries(form):
    return list(
        Query.objects.filter(object_id=form.pk, rule_code="CM-CATEGORY-NOT-ATC").values_list("status", flat=True)
    )


def test_category_values_are_the_clinical_ones():
    assert set(ConmedCategory.values) == {c.value for c in MedicationCategory}
    assert ConcomitantMedication.crf_code == "CM"
    assert declaration_for(ConcomitantMedication).api_resource == "concomitant-medications"


def test_empty_category_is_prefilled_from_the_atc_code(consent, coordinator):
    form = conmed(coordinator, consent(), atc_code="n02be01")
    form.refresh_from_db()
    assert (form.atc_code, form.category) == ("N02BE01", "antipyretic")
    assert category_queries(form) == []


def test_the_verbatim_name_never_gives_a_category(consent, coordinator):
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, consent(), medication_name="Paracetamol 对乙酰氨基酚", atc_code="")
    assert caught.value.message_dict == {"category": ["Choose the category."]}
    assert ConcomitantMedication.objects.count() == 0


def test_an_unlisted_atc_code_leaves_the_choice_to_the_coordinator(consent, coordinator):
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, consent(), atc_code="J01DH02")
    assert list(caught.value.message_dict) == ["category"]


def test_an_override_is_kept_and_queried_then_the_query_closes_when_it_agrees(consent, coordinator):
    form = conmed(coordinator, consent(), atc_code="N02BE01", category="other")
    assert ConcomitantMedication.objects.get(pk=form.pk).category == "other"
    assert category_queries(form) == ["open"]
    form.category = "antipyretic"
    save(user=coordinator, instance=form, expected_version=form.version)
    assert category_queries(form) == ["closed"]


def test_a_category_without_atc_code_is_never_queried(consent, coordinator):
    form = conmed(coordinator, consent(), category="antimicrobial", medication_name="美罗培南")
    assert category_queries(form) == []


def test_stop_before_start_is_refused_on_the_stop_date(consent, coordinator):
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, consent(), category="antipyretic", stop_date=date(2026, 3, 15))
    assert caught.value.message_dict == {"stop_date": ["The stop date cannot be before the start date."]}
    assert ConcomitantMedication.objects.count() == 0


def test_stop_on_the_start_day_is_accepted(consent, coordinator):
    form = conmed(coordinator, consent(), category="antipyretic", stop_date=date(2026, 3, 16))
    assert form.pk is not None


def test_ongoing_or_a_stop_date_but_not_both(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, subject, category="antipyretic", ongoing=True)
    assert list(caught.value.message_dict) == ["ongoing"]
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, subject, category="antipyretic", stop_date=None)
    assert list(caught.value.message_dict) == ["stop_date"]
    assert conmed(coordinator, subject, category="antipyretic", stop_date=None, ongoing=True).pk


def test_corticosteroid_needs_its_dexamethasone_equivalent(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, subject, medication_name="甲泼尼龙", atc_code="H02AB04", dose=Decimal("40"))
    assert list(caught.value.message_dict) == ["dexamethasone_equivalent_mg"]
    form = conmed(
        coordinator,
        subject,
        medication_name="甲泼尼龙",
        atc_code="H02AB04",
        dose=Decimal("40"),
        dexamethasone_equivalent_mg=Decimal("7.5"),
    )
    assert (form.category, form.dexamethasone_equivalent_mg) == ("corticosteroid", Decimal("7.5"))
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, subject, category="antipyretic", dexamethasone_equivalent_mg=Decimal("7.5"))
    assert list(caught.value.message_dict) == ["dexamethasone_equivalent_mg"]


def test_malformed_atc_code_and_dose_without_unit_are_field_errors(consent, coordinator):
    with pytest.raises(ValidationError) as caught:
        conmed(coordinator, consent(), atc_code="N2BE01", category="antipyretic", dose_unit="")
    assert set(caught.value.message_dict) == {"atc_code", "dose_unit"}


def test_form_page_prefills_server_side_and_carries_the_live_script(consent, coordinator, login):
    subject = consent()
    client = login(coordinator)
    url = f"/subjects/{subject.pk}/forms/CM/new/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "js/conmed_category.js" in html
    assert "data-atc-categories" in html and "L04AC07" in html
    posted = client.post(
        url,
        {
            "medication_name": "雅美罗 tocilizumab",
            "atc_code": "L04AC07",
            "dose": "8",
            "dose_unit": "mg/kg",
            "route": "iv",
            "start_date": "2026-03-17",
            "ongoing": "on",
            "category": "",
            "indication": "CRS",
        },
    )
    assert posted.status_code == 302, posted.content.decode()[:3000]
    saved = ConcomitantMedication.objects.get(subject=subject)
    assert (saved.category, saved.dose, saved.ongoing) == ("tocilizumab", Decimal("8.000"), True)


def test_form_page_shows_stop_before_start_next_to_the_field(consent, coordinator, login):
    subject = consent()
    response = login(coordinator).post(
        f"/subjects/{subject.pk}/forms/CM/new/",
        {"medication_name": "布洛芬", "category": "antipyretic", "start_date": "2026-03-17", "stop_date": "2026-03-16"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"stop_date": ["The stop date cannot be before the start date."]}
    assert ConcomitantMedication.objects.count() == 0
