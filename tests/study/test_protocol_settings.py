"""Versioned, effective-dated protocol settings (issue 3 item 4; DESIGN §4; CLINICAL_SPEC §1.2 h)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from clinical.crs import hypotension_sbp_threshold
from clinical.protocol import ProtocolChoices
from crf.models import OutboxMessage
from crf.rederive import rederive_for_settings
from labs.models import VitalSigns, VitalSignsEvent
from study.models import ProtocolSettings, Rederivation
from study.protocol import publish_settings, settings_in_force
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-3")


@pytest.mark.parametrize(
    ("age", "threshold"),
    [(0, 70), (1, 72), (5, 80), (9, 88), (10, 90), (40, 90)],
)
def test_default_hypotension_threshold_by_age(age, threshold):
    """CLINICAL_SPEC §1.2 h defaults: <1 y 70; 1–10 y 70 + 2 × age; from 10 y 90."""
    assert hypotension_sbp_threshold(age_years=age, settings=ProtocolChoices().crs_settings()) == threshold


def test_crs_settings_follow_the_protocol_choices():
    choices = ProtocolChoices(hypotension_adult_sbp=100, hypotension_adult_from_age=12, crs_episode_gap_days=2)
    crs = choices.crs_settings()
    assert (crs.adult_sbp_below_mmhg, crs.adult_from_age_years, crs.episode_gap_days) == (100, 12, 2)
    assert hypotension_sbp_threshold(age_years=11, settings=crs) == 92  # 70 + 2 × 11 below the adult age


def test_choices_round_trip_and_refuse_unknown_or_bad_values():
    choices = ProtocolChoices(mrd_cutoff_pct=Decimal("0.001"), days_per_year=Decimal("365.25"))
    assert ProtocolChoices.from_json(choices.to_json()) == choices
    with pytest.raises(ValueError, match="unknown protocol settings: typo"):
        ProtocolChoices.from_json({"typo": 1})
    with pytest.raises(ValueError, match="count_operator"):
        ProtocolChoices.from_json({"count_operator": "=>"})
    with pytest.raises(ValueError, match="days_per_year"):
        ProtocolChoices.from_json({"days_per_year": "366"})


def _as_posted(form) -> dict[str, object]:
    """What a browser posts back for the page's form unchanged (checkboxes as "on")."""
    values = {name: form[name].value() for name in form.fields}
    return {k: ("on" if v is True else v) for k, v in values.items() if v is not None and v is not False}


@pytest.fixture
def v1(study):
    return protocol_v1(study, effective_from=date(2026, 1, 1))


@pytest.fixture
def admin(users_a):
    return users_a["study_admin"]


def test_version_in_force_is_the_newest_effective_on_the_date(study, v1, admin):
    v2 = publish_settings(
        actor=admin,
        study=study,
        effective_from=date(2026, 6, 1),
        values={"hypotension_adult_sbp": 100},
        reason="amendment 2",
    )
    assert settings_in_force(study, date(2026, 5, 31)).version == 1
    assert settings_in_force(study, date(2026, 6, 1)).version == 2
    assert settings_in_force(study, date(2027, 1, 1)).version == 2
    assert settings_in_force(study, date(2025, 1, 1)).version == 1
    assert v2.values["hypotension_adult_sbp"] == 100
    assert v2.values["mrd_cutoff_pct"] == "0.01"


def test_only_a_study_admin_publishes_with_a_reason(study, v1, users_a):
    with pytest.raises(PermissionDenied):
        publish_settings(
            actor=users_a["data_manager"], study=study, effective_from=date(2026, 6, 1), values={}, reason="x"
        )
    with pytest.raises(ValidationError):
        publish_settings(
            actor=users_a["study_admin"], study=study, effective_from=date(2026, 6, 1), values={}, reason=" "
        )
    with pytest.raises(ValidationError):
        publish_settings(
            actor=users_a["study_admin"],
            study=study,
            effective_from=date(2026, 6, 1),
            values={"count_operator": "!"},
            reason="x",
        )
    assert ProtocolSettings.objects.count() == 1


def test_new_version_rederives_only_forms_dated_on_or_after_its_effective_date(study, subject_a, v1, users_a, admin):
    identity(subject_a, born=date(1980, 1, 1))
    coordinator = users_a["coordinator"]
    before = vital_signs(coordinator, subject_a, assessment_date=date(2026, 5, 31), systolic_bp=95)
    after = vital_signs(coordinator, subject_a, assessment_date=date(2026, 6, 1), systolic_bp=95)
    assert (before.hypotension, before.hypotension_threshold, before.settings_version) == (False, 90, 1)
    assert (after.hypotension, after.hypotension_threshold, after.settings_version) == (False, 90, 1)

    v2 = publish_settings(
        actor=admin,
        study=study,
        effective_from=date(2026, 6, 1),
        values={"hypotension_adult_sbp": 100},
        reason="amendment 2",
    )
    job = OutboxMessage.objects.get()
    assert (job.task_name, job.kwargs) == ("study.tasks.rederive_for_settings", {"settings_id": v2.pk})

    listed = rederive_for_settings(settings_id=v2.pk)
    assert [(r.object_id, r.clinical_date) for r in listed] == [(after.pk, date(2026, 6, 1))]
    old = VitalSigns.objects.get(pk=before.pk)
    new = VitalSigns.objects.get(pk=after.pk)
    assert (old.hypotension, old.hypotension_threshold, old.settings_version, old.version) == (False, 90, 1, 1)
    assert (new.hypotension, new.hypotension_threshold, new.settings_version, new.version) == (True, 100, 2, 2)
    event = VitalSignsEvent.objects.get(pgh_obj_id=after.pk, pgh_label="update")
    assert event.pgh_context["reason"] == "re-derived: protocol settings v2 effective 2026-06-01"
    # idempotent: a second delivery lists nothing new and changes nothing
    assert rederive_for_settings(settings_id=v2.pk) == []
    assert Rederivation.objects.count() == 1


def test_a_later_edit_of_an_old_form_keeps_the_old_version(study, subject_a, v1, users_a, admin):
    identity(subject_a, born=date(1980, 1, 1))
    coordinator = users_a["coordinator"]
    publish_settings(
        actor=admin,
        study=study,
        effective_from=date(2026, 6, 1),
        values={"hypotension_adult_sbp": 100},
        reason="amendment 2",
    )
    old = vital_signs(coordinator, subject_a, assessment_date=date(2026, 5, 1), systolic_bp=95)
    new = vital_signs(coordinator, subject_a, assessment_date=date(2026, 7, 1), systolic_bp=95)
    assert (old.hypotension, old.settings_version) == (False, 1)
    assert (new.hypotension, new.settings_version) == (True, 2)


def test_child_threshold_uses_age_on_the_assessment_date(study, subject_a, v1, users_a):
    identity(subject_a, born=date(2020, 6, 15))
    coordinator = users_a["coordinator"]
    day_before_6th_birthday = vital_signs(coordinator, subject_a, assessment_date=date(2026, 6, 14), systolic_bp=81)
    on_6th_birthday = vital_signs(coordinator, subject_a, assessment_date=date(2026, 6, 15), systolic_bp=81)
    assert (day_before_6th_birthday.hypotension_threshold, day_before_6th_birthday.hypotension) == (80, False)
    assert (on_6th_birthday.hypotension_threshold, on_6th_birthday.hypotension) == (82, True)


def test_demo_study_loads_the_clinical_spec_defaults(db):
    from django.core.management import call_command

    call_command("load_demo_study", "--no-accounts")
    row = ProtocolSettings.objects.get()
    assert row.version == 1
    assert row.choices() == ProtocolChoices()


def test_study_admin_publishes_a_version_on_the_page(study, v1, users_a, login, client):
    login(users_a["study_admin"])
    page = client.get("/admin/protocol-settings/")
    assert page.status_code == 200
    data = _as_posted(page.context["form"])
    data.update({"effective_from": "2026-06-01", "reason": "amendment 2", "value__hypotension_adult_sbp": "100"})
    response = client.post("/admin/protocol-settings/", data)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    v2 = ProtocolSettings.objects.get(version=2)
    assert (v2.effective_from, v2.reason, v2.values["hypotension_adult_sbp"]) == (date(2026, 6, 1), "amendment 2", 100)
    assert v2.values["dose_levels"][1] == {"code": "DL2", "target_cells_per_kg": "1.0E+6", "range_pct": "30"}


def test_the_page_shows_dose_levels_and_toxicities_as_a_reader_reads_them(study, v1, users_a, login, client):
    """Never the stored JSON: the levels by code, target (×10⁶ cells/kg) and range; the expected
    toxicities by their CTCAE term, with the Chinese name beside it for a Chinese reader."""
    login(users_a["study_admin"])
    html = client.get("/admin/protocol-settings/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "DL1 0.5 (±30%) · DL2 1 (±30%) · DL3 2 (±30%)" in html
    assert '"target_cells_per_kg"' not in html.split("<form")[0] and "[&quot;" not in html.split("<form")[0]
    row = next(line for line in html.split("<tr>") if "Expected toxicities" in line)
    assert "Febrile neutropenia" in row and "[" not in row.split("</th>")[1]


def test_dose_levels_and_toxicities_are_not_typed_here_and_carry_over(study, v1, users_a, login, client):
    """No stored JSON to edit: the form has no input for them, points to the dose-level page,
    and a version saved here keeps the levels and toxicities in force even if a crafted post
    names them."""
    login(users_a["study_admin"])
    page = client.get("/admin/protocol-settings/", HTTP_ACCEPT_LANGUAGE="en")
    form_html = page.content.decode().split("<form")[-1]
    assert "value__dose_levels" not in form_html and "value__expected_toxicities" not in form_html
    assert 'href="/admin/dose-levels/"' in page.content.decode()
    data = _as_posted(page.context["form"])
    data.update(
        {
            "effective_from": "2026-06-01",
            "reason": "x",
            "value__dose_levels": '[{"code": "DL9", "target_cells_per_kg": "1E9"}]',
            "value__expected_toxicities": '["Sepsis"]',
        }
    )
    response = client.post("/admin/protocol-settings/", data)
    assert response.status_code == 302
    v2 = ProtocolSettings.objects.get(version=2)
    assert [level["code"] for level in v2.values["dose_levels"]] == ["DL1", "DL2", "DL3"]
    assert v2.values["expected_toxicities"] == ["Febrile neutropenia"]


@pytest.mark.parametrize("role", ["coordinator", "investigator", "monitor", "data_manager", "statistician"])
def test_protocol_settings_page_is_for_study_admins_only(study, v1, users_a, login, client, role):
    login(users_a[role])
    assert client.get("/admin/protocol-settings/").status_code == 403


def test_invalid_value_on_the_page_is_a_form_error_not_a_500(study, v1, users_a, login, client):
    login(users_a["study_admin"])
    data = _as_posted(client.get("/admin/protocol-settings/").context["form"])
    data.update({"effective_from": "2026-06-01", "reason": "x", "value__mrd_cutoff_pct": "0"})
    response = client.post("/admin/protocol-settings/", data)
    assert response.status_code == 200
    assert "These settings are not valid: cut-offs must be positive" in response.content.decode()
    assert ProtocolSettings.objects.count() == 1


def test_frozen_forms_keep_their_values_and_are_listed_as_skipped(study, subject_a, v1, users_a, admin):
    from django.utils import timezone

    from crf.models import DataLock

    identity(subject_a, born=date(1980, 1, 1))
    after = vital_signs(users_a["coordinator"], subject_a, assessment_date=date(2026, 6, 2), systolic_bp=95)
    DataLock.objects.create(
        kind="freeze",
        study=study,
        subject=subject_a,
        reason="interim",
        set_by=users_a["data_manager"],
        set_at=timezone.now(),
    )
    v2 = publish_settings(
        actor=admin,
        study=study,
        effective_from=date(2026, 6, 1),
        values={"hypotension_adult_sbp": 100},
        reason="amendment 2",
    )
    rows = rederive_for_settings(settings_id=v2.pk)
    assert [(r.object_id, r.outcome) for r in rows] == [(after.pk, "skipped_locked")]
    kept = VitalSigns.objects.get(pk=after.pk)
    assert (kept.hypotension, kept.settings_version, kept.version) == (False, 1, 1)
