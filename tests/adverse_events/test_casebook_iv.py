"""Issue 24 (Casebook IV), the remaining items on the safety forms: "attributable to CRS" is
asked with nothing pre-selected and required when the finding is present (item 3, CLINICAL_SPEC
§1.2 d); one oxygen-device list for vital signs and CRS, with high-flow nasal cannula graded in
clinical.crs (item 4, §1.1, §1.2 e); a correction of the vital signs a CRS form copied raises a
query on that CRS form through a declared dependency (item 4); the episodes reached from the
notifications (item 5); the ICANS form shows one instrument's items (item 6)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from adverse_events.models import CrsAssessment, IcansAssessment
from adverse_events.services.ae_crs_icans import VITALS_CORRECTED_RULE
from clinical import crs as crs_rules
from crf import rederive
from crf.models import Query
from crf.services import save
from labs.models import OxygenDevice, VitalSigns
from subjects.models import Visit
from tests.adverse_events.conftest import day
from tests.adverse_events.test_crs import crs_post
from tests.factories import vital_signs

pytestmark = pytest.mark.req("ISSUE-24")


def test_attribution_starts_empty_and_is_required_with_a_finding(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    html = client.get(f"/subjects/{subject.pk}/forms/CRS/new/").content.decode()
    for name in ("hypotension_attributable_to_crs", "hypoxia_attributable_to_crs"):
        radios = [line for line in html.splitlines() if f'name="{name}"' in line]
        assert len(radios) == 2, radios  # yes and no
        assert not any("checked" in line for line in radios), radios
    data = crs_post(day(1), tmax_c="38.6", hypotension=True, hypotension_fluid_responsive="true")
    data.pop("hypotension_attributable_to_crs")
    response = client.post(f"/subjects/{subject.pk}/forms/CRS/new/", data)
    assert response.status_code == 200
    assert "Answer whether the hypotension is attributable to CRS." in response.content.decode()
    assert not CrsAssessment.objects.filter(subject=subject).exists()
    data = crs_post(day(1), tmax_c="38.6", oxygen_device="facemask")
    data.pop("hypoxia_attributable_to_crs")
    response = client.post(f"/subjects/{subject.pk}/forms/CRS/new/", data)
    assert "Answer whether the oxygen need is attributable to CRS." in response.content.decode()
    # nothing to attribute: no answer needed, none stored
    data = crs_post(day(1), tmax_c="38.6")
    data.pop("hypotension_attributable_to_crs")
    data.pop("hypoxia_attributable_to_crs")
    assert client.post(f"/subjects/{subject.pk}/forms/CRS/new/", data).status_code == 302
    saved = CrsAssessment.objects.get(subject=subject)
    assert (saved.grade, saved.hypotension_attributable_to_crs, saved.hypoxia_attributable_to_crs) == (1, None, None)


def test_attribution_no_counts_nothing(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    data = crs_post(day(1), tmax_c="38.6", oxygen_device="facemask", hypoxia_attributable_to_crs=False)
    assert client.post(f"/subjects/{subject.pk}/forms/CRS/new/", data).status_code == 302
    saved = CrsAssessment.objects.get(subject=subject)
    assert (saved.hypoxia_attributable_to_crs, saved.hypoxia_grade, saved.grade) == (False, 0, 1)


def test_one_oxygen_device_list():
    """The vital-signs and CRS forms offer the same keys and labels, the clinical rules' keys."""
    vitals = VitalSigns._meta.get_field("oxygen_device").choices
    crs = CrsAssessment._meta.get_field("oxygen_device").choices
    assert vitals == crs
    assert [key for key, _label in crs] == [device.value for device in crs_rules.OxygenDevice]
    assert ("hfnc", "High-flow nasal cannula") in [(k, str(v)) for k, v in crs]


@pytest.mark.parametrize(
    ("device", "flow", "grade"),
    [
        ("hfnc", None, 3),
        ("hfnc", "30", 3),
        ("hfnc", "6.1", 3),
        ("hfnc", "6", 2),  # §1.2 e: the flow decides, 6 exactly is low-flow
        ("nasal_cannula", "6", 2),
        ("nasal_cannula", "6.1", 3),
        ("venturi_mask", None, 3),
        ("mechanical_ventilation", None, 4),
    ],
)
def test_oxygen_support_grade(device, flow, grade):
    assert crs_rules.oxygen_support_grade(crs_rules.OxygenDevice(device), Decimal(flow) if flow else None) == grade


def test_hfnc_on_the_crs_form_is_grade_3(infused, coordinator, login):
    subject = infused()
    data = crs_post(day(1), tmax_c="38.9", oxygen_device="hfnc", oxygen_flow_l_min="40")
    assert login(coordinator).post(f"/subjects/{subject.pk}/forms/CRS/new/", data).status_code == 302
    assert CrsAssessment.objects.get(subject=subject).grade == 3


def _vitals_then_crs(coordinator, subject):
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    vs = vital_signs(
        coordinator,
        subject,
        visit=d1,
        assessment_date=day(1),
        assessment_time=time(14, 0),
        temperature_c=Decimal("39.4"),
        systolic_bp=118,
    )
    crs = CrsAssessment(subject=subject, visit=d1, assessment_date=day(1), tmax_c=Decimal("39.4"))
    save(user=coordinator, instance=crs, expected_version=None)
    return vs, crs


def test_correcting_copied_vitals_raises_a_query_on_the_crs_form(infused, coordinator):
    subject = infused()
    vs, crs = _vitals_then_crs(coordinator, subject)
    vs.temperature_c = Decimal("37.4")
    save(user=coordinator, instance=vs, expected_version=vs.version, reason="transcription error")
    (query,) = Query.objects.filter(object_id=crs.pk, rule_code=VITALS_CORRECTED_RULE)
    assert query.field_name == "tmax_c"
    assert query.value == "39.4"
    assert query.text == (
        f"The vital signs of {day(1).isoformat()} 14:00 this value may have been copied from were corrected "
        "or entered in error. Confirm this value against the source, or correct it."
    )
    crs.refresh_from_db()
    assert crs.tmax_c == Decimal("39.4")  # a copy: not rewritten
    # one open query per form: a second correction adds none
    vs.refresh_from_db()
    vs.temperature_c = Decimal("37.5")
    save(user=coordinator, instance=vs, expected_version=vs.version, reason="again")
    assert Query.objects.filter(object_id=crs.pk, rule_code=VITALS_CORRECTED_RULE).count() == 1


def test_correcting_an_uncopied_value_raises_nothing(infused, coordinator):
    subject = infused()
    vs, crs = _vitals_then_crs(coordinator, subject)
    vs.heart_rate = 120
    save(user=coordinator, instance=vs, expected_version=vs.version, reason="late entry")
    crs.tmax_c = Decimal("38.0")
    save(user=coordinator, instance=crs, expected_version=crs.version, reason="source says 38.0")
    vs.refresh_from_db()
    vs.temperature_c = Decimal("37.4")
    save(user=coordinator, instance=vs, expected_version=vs.version, reason="transcription error")
    assert not Query.objects.filter(rule_code=VITALS_CORRECTED_RULE).exists()


def test_the_dependency_is_declared():
    edges = [e for e in rederive.graph() if e.source == "labs.VitalSigns"]
    assert [(e.dependants, e.through) for e in edges] == [
        (("adverse_events.CrsAssessment",), "adverse_events.services.ae_crs_icans._copied_vitals_corrected"),
        (("labs.VitalSigns",), "labs.services.rederive_fever_course"),  # issue 27: the fever grade's course
    ]


def test_vitals_keys_migrated_to_the_one_list():
    """labs 0011 renamed the vital-signs keys; history rows keep the old key and read as its label."""
    from crf import display

    assert OxygenDevice.VENTURI_MASK == "venturi_mask"
    assert OxygenDevice.MECHANICAL_VENTILATION == "mechanical_ventilation"
    field = VitalSigns._meta.get_field("oxygen_device")
    assert display.value_text("venturi", field) == "Venturi mask"
    assert display.value_text("mechanical", field) == "Intubation and mechanical ventilation"


def test_icans_form_marks_each_instruments_items(infused, coordinator, login):
    subject = infused(born=day(1).replace(year=day(1).year - 30))
    html = login(coordinator).get(f"/subjects/{subject.pk}/forms/ICANS/new/").content.decode()
    assert html.count('data-instrument-item="ice"') == 5
    assert html.count('data-instrument-item="capd"') == 8
    assert 'data-instrument-choice="ice"' in html  # §2.3: an adult's default
    assert "js/icans_instrument.js" in html
    assert IcansAssessment._meta.get_field("instrument").blank


def test_vitals_without_date_of_birth_say_why_hypotension_is_not_derived(screened, coordinator, login):
    subject = screened()
    vs = vital_signs(coordinator, subject, systolic_bp=82, standard_of_care=True)
    assert vs.hypotension is None
    html = login(coordinator).get(f"/subjects/{subject.pk}/forms/VS/{vs.pk}/").content.decode()
    assert "not derived: the date of birth is not recorded (the hypotension threshold depends on the age)" in html


def test_infusion_form_shows_cells_per_kg_live(infused, coordinator, login):
    """Issue 24 item 4: CAR+ cells/kg = viable × CAR+ % ÷ weight (CLINICAL_SPEC §7) and DL2's
    range (1.0×10⁶/kg ± 30 %, §3.1) as typed, by the rule the save stores."""
    subject = infused()
    client = login(coordinator)
    html = client.get(f"/subjects/{subject.pk}/forms/INF/new/").content.decode()
    assert f'hx-post="/subjects/{subject.pk}/infusion-dose/"' in html
    live = client.post(
        f"/subjects/{subject.pk}/infusion-dose/",
        {"viable_cells_e6": "100", "car_positive_pct": "30", "weight_kg": "30"},
    ).content.decode()
    assert 'data-live-dose="1.0000"' in live
    assert "Acceptable range at DL2: 0.7000–1.3000 ×10⁶/kg" in live
    assert 'data-dose-in-range="yes"' in live
    live = client.post(
        f"/subjects/{subject.pk}/infusion-dose/",
        {"viable_cells_e6": "100", "car_positive_pct": "30", "weight_kg": "20"},
    ).content.decode()
    assert 'data-live-dose="1.5000"' in live and 'data-dose-in-range="no"' in live
    live = client.post(f"/subjects/{subject.pk}/infusion-dose/", {"viable_cells_e6": "100"}).content.decode()
    assert "The dose appears when viable cells, CAR+ % and weight are entered:" in live


def test_monitor_gets_no_live_dose(infused, users_a, login):
    subject = infused()
    response = login(users_a["monitor"]).post(f"/subjects/{subject.pk}/infusion-dose/", {})
    assert response.status_code == 403


def test_crs_notification_links_the_episode(infused, coordinator, investigator, login, study, settings):
    from adverse_events.models import CrsEpisode, SafetyAlert, SafetyContacts
    from adverse_events.services.alerts import deliver_alert

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    SafetyContacts.objects.create(study=study, sponsor_emails=["safety@sponsor.example"])
    subject = infused()
    client = login(coordinator)
    data = crs_post(day(1), tmax_c="39.0", oxygen_device="facemask")
    assert client.post(f"/subjects/{subject.pk}/forms/CRS/new/", data).status_code == 302
    episode = CrsEpisode.objects.get(subject=subject)
    alert = SafetyAlert.objects.get(kind="crs_g3")
    assert alert.url == f"/safety/subjects/{subject.pk}/episodes/crs/{episode.pk}/"
    deliver_alert(alert_id=alert.pk)
    client.logout()
    page = login(investigator).get("/data/notifications/").content.decode()
    assert f'href="/safety/subjects/{subject.pk}/episodes/crs/{episode.pk}/"' in page
