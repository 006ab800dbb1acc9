"""Baseline forms (issue 5 item 1): partial history dates stored as typed, imputed to the first
day of the known period and flagged (CLINICAL_SPEC §7); the performance-status scale chosen by
age with the protocol's Lansky age; BSA by Mosteller; age derived from the date of birth or
entered (queried when they disagree); history forms exempt from the consent-date query while
apheresis and bridging before consent are queried (subjects.checks); all on the casebook."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinical.protocol import ProtocolChoices
from crf.models import Query
from crf.services import save
from study.models import ProtocolSettings
from subjects.models import (
    BridgingTherapy,
    CellCollection,
    Demographics,
    DiseaseHistory,
    MedicalHistory,
    PerformanceStatus,
    PriorTherapy,
)
from tests.factories import identity

pytestmark = pytest.mark.req("ISSUE-5")

ASSESSED = date(2026, 3, 2)  # the day after consent (tests/subjects/conftest.py CONSENTED)


def new(user, model, subject, **values):
    return save(user=user, instance=model(subject=subject, **values), expected_version=None)


def disease_history(user, subject, **values) -> DiseaseHistory:
    data = {
        "diagnosis": "t_all",
        "diagnosis_date": "2024-03",
        "blast_cd7_pct": Decimal("98.5"),
        "immunophenotype": "cCD3+ CD7+ CD1a- CD34+",
        "cytogenetics": "46,XY",
        "molecular_markers": "NOTCH1 mut",
        "disease_status": "relapsed",
        "prior_lines": 2,
        "cns_status": "CNS1",
    }
    data.update(values)
    return new(user, DiseaseHistory, subject, **data)


def queries(form, rule="PROC-BEFORE-CONSENT"):
    return list(Query.objects.filter(object_id=form.pk, rule_code=rule).values_list("field_name", "status"))


# --- partial dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "imputed", "flag"),
    [
        ("2024-03", date(2024, 3, 1), "D"),
        ("2023", date(2023, 1, 1), "M"),
        ("2024-03-17", date(2024, 3, 17), ""),
    ],
)
def test_partial_diagnosis_date_is_stored_as_typed_imputed_and_flagged(consent, coordinator, typed, imputed, flag):
    form = disease_history(coordinator, consent(), diagnosis_date=typed)
    form.refresh_from_db()
    assert (form.diagnosis_date, form.diagnosis_date_imputed, form.diagnosis_date_imputation) == (
        typed,
        imputed,
        flag,
    )


def test_the_imputation_is_shown_on_the_form_page(consent, coordinator, login):
    subject = consent()
    form = disease_history(coordinator, subject, diagnosis_date="2023")
    page = login(coordinator).get(f"/subjects/{subject.pk}/forms/DH/{form.pk}/").content.decode()
    assert "diagnosis date for analysis" in page and "2023-01-01" in page
    assert "month and day imputed (1 January)" in page


@pytest.mark.parametrize("typed", ["2024-13", "03/2024", "2024-02-30"])
def test_a_malformed_partial_date_is_a_field_error(consent, coordinator, typed):
    with pytest.raises(ValidationError) as caught:
        disease_history(coordinator, consent(), diagnosis_date=typed)
    assert list(caught.value.message_dict) == ["diagnosis_date"]
    assert DiseaseHistory.objects.count() == 0


def test_a_prior_hsct_needs_its_date_donor_and_gvhd_answer_and_follows_the_diagnosis(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as caught:
        disease_history(coordinator, subject, prior_hsct=True)
    assert set(caught.value.message_dict) == {"hsct_date", "hsct_donor", "prior_gvhd"}
    with pytest.raises(ValidationError) as caught:
        disease_history(
            coordinator, subject, prior_hsct=True, hsct_date="2024-02", hsct_donor="haploidentical", prior_gvhd=False
        )
    assert caught.value.message_dict == {"hsct_date": ["The HSCT cannot be before the diagnosis."]}
    form = disease_history(
        coordinator,
        subject,
        prior_hsct=True,
        hsct_date="2024-10",
        hsct_donor="haploidentical",
        prior_gvhd=True,
        gvhd_history="acute skin GvHD grade II, steroids",
    )
    assert (form.hsct_date_imputed, form.hsct_date_imputation) == (date(2024, 10, 1), "D")


def test_prior_therapy_end_certainly_before_start_is_refused_but_same_month_is_not(consent, coordinator):
    subject = consent()
    data = {"line_number": 1, "therapy_type": "chemotherapy", "regimen": "VDLP", "best_response": "CR"}
    with pytest.raises(ValidationError) as caught:
        new(coordinator, PriorTherapy, subject, start_date="2024-03", end_date="2024-02-28", **data)
    assert caught.value.message_dict == {"end_date": ["The end date cannot be before the start date."]}
    form = new(coordinator, PriorTherapy, subject, start_date="2024-03", end_date="2024-03-01", **data)
    assert (form.start_date_imputed, form.end_date_imputed, form.end_date_imputation) == (
        date(2024, 3, 1),
        date(2024, 3, 1),
        "",
    )


# --- history exemption and the consent-date query -----------------------------------------------


def test_history_forms_dated_before_consent_raise_no_query(consent, coordinator):
    subject = consent()
    forms = [
        disease_history(coordinator, subject, diagnosis_date="2024-03"),
        new(coordinator, MedicalHistory, subject, condition="乙型肝炎病毒携带", onset_date="2015", ongoing=True),
        new(
            coordinator,
            PriorTherapy,
            subject,
            line_number=1,
            therapy_type="chemotherapy",
            regimen="VDLP",
            start_date="2024-03",
            best_response="CR",
        ),
    ]
    assert [queries(form) for form in forms] == [[], [], []]
    assert Query.objects.count() == 0


def test_apheresis_before_consent_is_queried_and_the_query_closes_when_corrected(consent, coordinator):
    form = new(coordinator, CellCollection, consent(), collection_date=date(2026, 2, 20), source="autologous")
    assert queries(form) == [("collection_date", "open")]
    form.collection_date = date(2026, 3, 4)
    save(user=coordinator, instance=form, expected_version=form.version)
    assert queries(form) == [("collection_date", "closed")]


def test_bridging_before_consent_is_queried_and_end_before_start_refused(consent, coordinator):
    subject = consent()
    form = new(coordinator, BridgingTherapy, subject, regimen="维奈克拉+阿扎胞苷", start_date=date(2026, 2, 27))
    assert queries(form) == [("start_date", "open")]
    with pytest.raises(ValidationError) as caught:
        new(coordinator, BridgingTherapy, subject, regimen="x", start_date=date(2026, 3, 5), end_date=date(2026, 3, 4))
    assert caught.value.message_dict == {"end_date": ["The end date cannot be before the start date."]}


def test_a_donor_collection_needs_donor_type_and_hla_match(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as caught:
        new(coordinator, CellCollection, subject, collection_date=date(2026, 3, 4), source="donor")
    assert set(caught.value.message_dict) == {"donor_origin", "donor_relation", "hla_match"}
    with pytest.raises(ValidationError) as caught:
        new(
            coordinator,
            CellCollection,
            subject,
            collection_date=date(2026, 3, 4),
            source="donor",
            donor_origin="prior_hsct",
            donor_relation="haploidentical",
            hla_match="6/5",
        )
    assert list(caught.value.message_dict) == ["hla_match"]
    form = new(
        coordinator,
        CellCollection,
        subject,
        collection_date=date(2026, 3, 4),
        source="donor",
        donor_origin="prior_hsct",
        donor_relation="haploidentical",
        hla_match="5/10",
    )
    assert queries(form) == []
    with pytest.raises(ValidationError) as caught:
        new(
            coordinator,
            CellCollection,
            subject,
            collection_date=date(2026, 3, 4),
            source="autologous",
            hla_match="5/10",
        )
    assert list(caught.value.message_dict) == ["hla_match"]


# --- demographics ---------------------------------------------------------------------------------


def test_demographics_derive_age_from_the_date_of_birth_and_bsa_by_mosteller(consent, coordinator):
    subject = consent()
    identity(subject, born=date(1990, 5, 1))
    form = new(
        coordinator,
        Demographics,
        subject,
        assessment_date=ASSESSED,
        sex="M",
        weight_kg=Decimal("70"),
        height_cm=Decimal("170"),
    )
    form.refresh_from_db()
    assert (form.age_years, form.age_source, form.bsa_m2, form.bsa_formula) == (
        35,
        "dob",
        Decimal("1.82"),
        "Mosteller 1987",
    )
    # re-saved with the derived age on the page: still from the date of birth, BSA follows the weight
    form.weight_kg = Decimal("64")
    form = save(user=coordinator, instance=form, expected_version=form.version)
    assert (form.age_years, form.age_source, form.bsa_m2) == (35, "dob", Decimal("1.74"))
    assert queries(form, "DM-AGE-DOB") == []


def test_an_entered_age_that_disagrees_with_the_date_of_birth_is_queried(consent, coordinator):
    subject = consent()
    identity(subject, born=date(1990, 5, 1))
    form = new(
        coordinator,
        Demographics,
        subject,
        assessment_date=ASSESSED,
        age_years=36,
        sex="F",
        weight_kg=Decimal("52"),
        height_cm=Decimal("160"),
    )
    assert form.age_source == "entered"
    assert queries(form, "DM-AGE-DOB") == [("age_years", "open")]
    form.age_years = 35
    form = save(user=coordinator, instance=form, expected_version=form.version)
    assert queries(form, "DM-AGE-DOB") == [("age_years", "closed")]
    assert form.age_source == "dob"


def test_without_a_date_of_birth_the_age_must_be_entered(consent, coordinator):
    with pytest.raises(ValidationError) as caught:
        new(
            coordinator,
            Demographics,
            consent(),
            assessment_date=ASSESSED,
            sex="F",
            weight_kg=Decimal("52"),
            height_cm=Decimal("160"),
        )
    assert list(caught.value.message_dict) == ["age_years"]


# --- performance status ---------------------------------------------------------------------------


def ps(user, subject, **values) -> PerformanceStatus:
    return new(user, PerformanceStatus, subject, assessment_date=ASSESSED, **values)


def test_a_child_under_16_is_scored_on_lansky(consent, coordinator):
    subject = consent()
    identity(subject, born=date(2010, 3, 3))  # 15 on the assessment date
    form = ps(coordinator, subject, score=80)
    assert (form.scale, form.age_years, form.settings_version) == ("lansky", 15, 1)
    with pytest.raises(ValidationError) as caught:
        ps(coordinator, subject, scale="ecog", score=1)
    assert caught.value.message_dict == {
        "scale": ["At 15 years the protocol uses Lansky play-performance (0–100) (Lansky below 16 years)."]
    }


def test_from_16_ecog_by_default_or_karnofsky_never_lansky(consent, coordinator):
    subject = consent()
    identity(subject, born=date(2010, 3, 2))  # 16 on the assessment date
    assert ps(coordinator, subject, score=1).scale == "ecog"
    assert ps(coordinator, subject, scale="karnofsky", score=90).scale == "karnofsky"
    with pytest.raises(ValidationError) as caught:
        ps(coordinator, subject, scale="lansky", score=90)
    assert list(caught.value.message_dict) == ["scale"]
    with pytest.raises(ValidationError) as caught:
        ps(coordinator, subject, score=6)
    assert list(caught.value.message_dict) == ["score"]


def test_the_lansky_age_comes_from_the_protocol_settings_in_force(consent, coordinator, study):
    subject = consent()
    identity(subject, born=date(2010, 3, 2))  # 16
    ProtocolSettings.objects.create(
        study=study,
        version=2,
        effective_from=date(2026, 1, 1),
        values={**ProtocolChoices().to_json(), "lansky_below_age": 18},
        reason="protocol amendment: Lansky below 18",
        created_at=timezone.now(),
    )
    form = ps(coordinator, subject, score=70)
    assert (form.scale, form.settings_version) == ("lansky", 2)


def test_without_a_date_of_birth_the_age_comes_from_demographics(consent, coordinator):
    subject = consent()
    new(
        coordinator,
        Demographics,
        subject,
        assessment_date=ASSESSED,
        age_years=9,
        sex="M",
        weight_kg=Decimal("28"),
        height_cm=Decimal("130"),
    )
    assert ps(coordinator, subject, score=60).scale == "lansky"


def test_performance_status_before_consent_is_queried_unless_standard_of_care(consent, coordinator):
    subject = consent()
    identity(subject)
    late = ps(coordinator, subject, score=1)
    early = new(coordinator, PerformanceStatus, subject, assessment_date=date(2026, 2, 20), score=1)
    record = new(
        coordinator, PerformanceStatus, subject, assessment_date=date(2026, 2, 20), score=1, standard_of_care=True
    )
    assert [queries(late), queries(early), queries(record)] == [[], [("assessment_date", "open")], []]


# --- casebook -------------------------------------------------------------------------------------


def test_every_new_form_is_a_casebook_column_in_clinical_order(enrolled, coordinator, login):
    subject = enrolled()
    page = login(coordinator).get(f"/subjects/{subject.pk}/casebook/")
    # the casebook's "another form at this visit" picker (issue 24)
    codes = [code for code, _title in page.context["entry_forms"]]
    # this forms, in clinical order around the treatment forms (other issues add more columns)
    ours = ["DM", "PS", "MH", "DH", "PT", "CC", "BR", "LD", "INF", "VS", "CM", "DV"]
    assert [code for code in codes if code in ours] == ours
