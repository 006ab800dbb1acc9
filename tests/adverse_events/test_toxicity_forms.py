"""MAGIC GvHD staging, IEC-HS, infections and hospital/ICU stays on the CRF pages (CLINICAL_SPEC
§3, §4.2–4.4, §8): every MAGIC worked example posted on the form page and the stored stages read
back, bilirubin in µmol/L at the boundary, the child column, the live grade partial, refusals as
field errors with nothing saved, and site isolation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from adverse_events.models import GvhdStaging, HospitalStay, IecHsAssessment, Infection
from tests.adverse_events.conftest import day

pytestmark = pytest.mark.req("ISSUE-10")


def gvhd_post(**values) -> dict[str, object]:
    data: dict[str, object] = {
        "assessment_date": day(40).isoformat(),
        "weight_kg": "70",
        "skin_bsa_pct": "0",
        "bilirubin": "",
        "bilirubin_unit": "mg/dL",
        "stool_ml_per_day": "",
        "stool_episodes_per_day": "",
    }
    for name, value in values.items():
        if value is True:
            data[name] = "on"
        else:
            data[name] = value
    return data


def enter_gvhd(client, subject, **values) -> GvhdStaging:
    before = set(GvhdStaging.objects.values_list("pk", flat=True))
    response = client.post(f"/subjects/{subject.pk}/forms/GVHD/new/", gvhd_post(**values))
    assert response.status_code == 302, response.content.decode()[:3000]
    (new,) = set(GvhdStaging.objects.values_list("pk", flat=True)) - before
    return GvhdStaging.objects.get(pk=new)


MAGIC_EXAMPLES = [
    ("skin 30% only → I", {"skin_bsa_pct": "30"}, (2, 0, 0, 0), 1),
    ("skin 60% → II", {"skin_bsa_pct": "60"}, (3, 0, 0, 0), 2),
    ("bilirubin 2.5 mg/dL with skin stage 1 → II", {"bilirubin": "2.5", "skin_bsa_pct": "10"}, (1, 1, 0, 0), 2),
    ("adult stool 1200 mL/day → III", {"stool_ml_per_day": "1200"}, (0, 0, 0, 2), 3),
    ("bilirubin 16 mg/dL → IV", {"bilirubin": "16"}, (0, 4, 0, 0), 4),
    ("persistent nausea alone → II", {"upper_gi_persistent": True}, (0, 0, 1, 0), 2),
    ("bilirubin 52 µmol/L → liver stage 2", {"bilirubin": "52", "bilirubin_unit": "umol/L"}, (0, 2, 0, 0), 3),
    ("adult 3-day average stool 999.7 mL/day → lower GI 1", {"stool_ml_per_day": "999.7"}, (0, 0, 0, 1), 2),
    ("4.3 episodes/day → lower GI 1", {"stool_episodes_per_day": "4.3"}, (0, 0, 0, 1), 2),
]


@pytest.mark.parametrize(("label", "values", "stages", "grade"), MAGIC_EXAMPLES, ids=[e[0] for e in MAGIC_EXAMPLES])
def test_s8_magic_examples_on_the_form_page(infused, coordinator, login, label, values, stages, grade):
    subject = infused()
    saved = enter_gvhd(login(coordinator), subject, **values)
    saved.refresh_from_db()
    assert (saved.skin_stage, saved.liver_stage, saved.upper_gi_stage, saved.lower_gi_stage) == stages
    assert (saved.overall_grade, saved.criteria, saved.study_day) == (grade, "MAGIC-2016", 40)


def test_bilirubin_52_umol_l_is_stored_as_3_04_mg_dl(infused, coordinator, login):
    saved = enter_gvhd(login(coordinator), infused(), bilirubin="52", bilirubin_unit="umol/L")
    assert saved.bilirubin_mg_dl == D("3.0409")


@pytest.mark.parametrize(
    ("umol", "stage"), [("34.1", 0), ("34.2", 1), ("51.3", 1), ("51.4", 2), ("256.5", 3), ("256.6", 4)]
)
def test_bilirubin_boundaries_in_umol_l(infused, coordinator, login, umol, stage):
    saved = enter_gvhd(login(coordinator), infused(), bilirubin=umol, bilirubin_unit="umol/L")
    assert saved.liver_stage == stage


def test_child_weight_uses_the_per_kg_column(infused, coordinator, login):
    # 20 kg: 400 mL/day = 20 mL/kg/day → stage 2 (adult column would be stage 0).
    saved = enter_gvhd(login(coordinator), infused(), weight_kg="20", stool_ml_per_day="400")
    assert (saved.lower_gi_stage, saved.child_column, saved.overall_grade) == (2, True, 3)


def test_live_grade_partial_shows_stages_and_grade(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    response = client.post(
        f"/safety/subjects/{subject.pk}/gvhd/live-grade/", gvhd_post(bilirubin="52", bilirubin_unit="umol/L")
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-live-grade="3"' in html and ">III<" in html
    assert '<span data-stage="liver">2</span>' in html
    assert "bilirubin 3.04 mg/dL" in html


def test_impossible_skin_bsa_is_a_field_error_and_nothing_is_saved(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(f"/subjects/{subject.pk}/forms/GVHD/new/", gvhd_post(skin_bsa_pct="120"))
    assert response.status_code in (200, 400)
    assert "skin_bsa_pct" in response.context["form"].errors
    assert not GvhdStaging.objects.exists()


def iec_hs_post(**values) -> dict[str, object]:
    data: dict[str, object] = {
        "assessment_date": day(9).isoformat(),
        "present": "on",
        "onset_date": day(7).isoformat(),
        "ferritin_peak": "45000",
        "fibrinogen_nadir": "0.9",
        "alt_peak": "320",
        "ast_peak": "410",
        "bilirubin_peak": "48",
        "marrow_haemophagocytosis": "yes",
        "treatments": ["anakinra", "corticosteroids"],
        "grade": "3",
    }
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.req("CLINICAL_SPEC-4.2")
def test_iec_hs_saved_with_treatments(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(f"/subjects/{subject.pk}/forms/IECHS/new/", iec_hs_post())
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = IecHsAssessment.objects.get(subject=subject)
    assert (saved.grade, saved.treatments, saved.study_day) == (3, ["anakinra", "corticosteroids"], 9)


@pytest.mark.req("CLINICAL_SPEC-4.2")
def test_iec_hs_present_needs_a_grade(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(f"/subjects/{subject.pk}/forms/IECHS/new/", iec_hs_post(grade=""))
    assert response.context["form"].errors["grade"] == ["IEC-HS is present: record the grade (1–5)."]
    assert not IecHsAssessment.objects.exists()


def infection_post(**values) -> dict[str, object]:
    data: dict[str, object] = {
        "onset_date": day(12).isoformat(),
        "organism_type": "viral",
        "organism": "Cytomegalovirus",
        "viral_reactivation": "CMV",
        "infection_site": "blood",
        "ctcae_term": "Infections and infestations - Other, specify",
        "verbatim": "CMV viraemia",
        "grade": "2",
    }
    data.update(values)
    return data


def test_infection_saved_with_its_meddra_code(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(f"/subjects/{subject.pk}/forms/INFECT/new/", infection_post())
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = Infection.objects.get(subject=subject)
    assert (saved.meddra_code, saved.ctcae_version, saved.onset_study_day) == ("10021881", "5.0", 12)


def test_infection_grade_that_does_not_exist_for_the_term_is_refused(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(
        f"/subjects/{subject.pk}/forms/INFECT/new/",
        infection_post(ctcae_term="Sepsis", verbatim="", organism_type="bacterial", viral_reactivation="", grade="2"),
    )
    assert "Sepsis has no grade 2" in " ".join(response.context["form"].errors["grade"])
    assert not Infection.objects.exists()


def test_infection_other_specify_needs_verbatim(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(f"/subjects/{subject.pk}/forms/INFECT/new/", infection_post(verbatim=""))
    assert "verbatim" in response.context["form"].errors
    assert not Infection.objects.exists()


def stay_post(**values) -> dict[str, object]:
    data: dict[str, object] = {
        "kind": "icu",
        "admission_date": day(5).isoformat(),
        "discharge_date": day(8).isoformat(),
        "admission_reason": "CRS grade 3, vasopressor support",
    }
    data.update(values)
    return data


def test_icu_stay_saved_with_length_of_stay(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(f"/subjects/{subject.pk}/forms/HOSP/new/", stay_post())
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = HospitalStay.objects.get(subject=subject)
    assert (saved.admission_study_day, saved.length_of_stay_days) == (5, 3)


def test_discharge_before_admission_is_refused(infused, coordinator, login):
    subject = infused()
    response = login(coordinator).post(
        f"/subjects/{subject.pk}/forms/HOSP/new/", stay_post(discharge_date=day(4).isoformat())
    )
    assert response.context["form"].errors["discharge_date"] == [
        "The discharge date cannot be before the admission date."
    ]
    assert not HospitalStay.objects.exists()


def test_toxicity_forms_closed_to_other_sites_and_monitors(infused, users_a, login, other_coordinator):
    subject = infused()
    assert login(other_coordinator).post(f"/subjects/{subject.pk}/forms/HOSP/new/", stay_post()).status_code == 404
    assert login(users_a["monitor"]).post(f"/subjects/{subject.pk}/forms/HOSP/new/", stay_post()).status_code in (
        403,
        404,
    )
    assert not HospitalStay.objects.exists()
