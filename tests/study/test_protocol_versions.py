"""Protocol amendments (issue 27 item 2): a protocol version (number, date, approval date, summary)
groups the settings versions that came in with it; the study admin records it on a page (both
languages, audited, with a reason); the study home shows the version in force; endpoint runs and
exports record the version in force on their cut-off date."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from study import amendments
from study.models import AssessmentSchedule, ProtocolSettings, ProtocolSettingsEvent, ProtocolVersion
from tests.factories import protocol_v1

pytestmark = pytest.mark.req("ISSUE-27")

URL = "/admin/protocol-versions/"


@pytest.fixture
def settings_versions(study):
    v1 = protocol_v1(study, effective_from=date(2026, 1, 1))
    v2 = ProtocolSettings.objects.create(
        study=study,
        version=2,
        effective_from=date(2026, 5, 1),
        values=v1.values,
        reason="amendment 1",
        created_at=timezone.now(),
    )
    schedule = AssessmentSchedule.objects.create(
        study=study,
        version=1,
        effective_from=date(2026, 1, 1),
        matrix={"visits": {}, "logs": []},
        reason="CLINICAL_SPEC §7.1",
        created_at=timezone.now(),
    )
    return v1, v2, schedule


def record(admin, study, number, approved, **extra):
    values = {
        "protocol_date": approved.replace(day=1),
        "approval_date": approved,
        "summary": f"Protocol {number}",
        "reason": "ethics approval",
    }
    values.update(extra)
    return amendments.record_amendment(actor=admin, study=study, number=number, **values)


def test_an_amendment_groups_its_settings_versions_audited(users_a, study, settings_versions):
    v1, v2, schedule = settings_versions
    admin = users_a["study_admin"]
    original = record(admin, study, "1.0", date(2025, 12, 20), attach=[f"study.ProtocolSettings:{v1.pk}"])
    amended = record(
        admin,
        study,
        "2.0",
        date(2026, 4, 20),
        attach=[f"study.ProtocolSettings:{v2.pk}", f"study.AssessmentSchedule:{schedule.pk}"],
    )
    assert [(i.kind, i.version) for i in amendments.settings_of(original)] == [("Protocol settings", 1)]
    assert [(i.kind, i.version) for i in amendments.settings_of(amended)] == [
        ("Protocol settings", 2),
        ("Schedule of assessments", 1),
    ]
    assert amendments.unattached(study) == []
    event = ProtocolSettingsEvent.objects.filter(pgh_obj_id=v2.pk, pgh_label="update").get()
    assert (event.protocol_version_id, event.pgh_context["reason"], event.pgh_context["user"]) == (
        amended.pk,
        "ethics approval",
        admin.pk,
    )


def test_the_version_in_force_follows_the_approval_date(users_a, study):
    admin = users_a["study_admin"]
    record(admin, study, "1.0", date(2025, 12, 20))
    record(admin, study, "2.0", date(2026, 4, 20))
    assert amendments.number_in_force(study, date(2025, 12, 19)) == ""
    assert amendments.number_in_force(study, date(2025, 12, 20)) == "1.0"
    assert amendments.number_in_force(study, date(2026, 4, 19)) == "1.0"
    assert amendments.number_in_force(study, date(2026, 4, 20)) == "2.0"


def test_refusals_save_nothing(users_a, study, settings_versions):
    v1, _v2, _schedule = settings_versions
    admin = users_a["study_admin"]
    with pytest.raises(PermissionDenied):
        record(users_a["coordinator"], study, "1.0", date(2025, 12, 20))
    with pytest.raises(ValidationError) as refused:
        record(admin, study, "1.0", date(2025, 12, 20), protocol_date=date(2026, 1, 2))
    assert list(refused.value.message_dict) == ["approval_date"]
    with pytest.raises(ValidationError) as refused:
        record(admin, study, "1.0", date(2025, 12, 20), reason=" ")
    assert list(refused.value.message_dict) == ["reason"]
    record(admin, study, "1.0", date(2025, 12, 20), attach=[f"study.ProtocolSettings:{v1.pk}"])
    with pytest.raises(ValidationError) as refused:
        record(admin, study, "1.0", date(2026, 2, 1))
    assert refused.value.message_dict == {"number": ["This protocol version is already recorded."]}
    with pytest.raises(ValidationError) as refused:  # v1 came in with 1.0 already
        record(admin, study, "2.0", date(2026, 4, 20), attach=[f"study.ProtocolSettings:{v1.pk}"])
    assert list(refused.value.message_dict) == ["attach"]
    assert list(ProtocolVersion.objects.values_list("number", flat=True)) == ["1.0"]


def test_page_records_an_amendment_in_both_languages(users_a, study, settings_versions, login, client):
    _v1, v2, schedule = settings_versions
    admin = users_a["study_admin"]
    login(admin)
    page = client.get(URL).content.decode()
    assert "No protocol version recorded yet." in page
    assert "Protocol settings version 2, effective from 2026-05-01" in page
    posted = {
        "action": "record",
        "number": "2.0",
        "protocol_date": "2026-04-01",
        "approval_date": "2026-04-20",
        "summary": "Adds the respiratory rate.",
        "attach": [f"study.ProtocolSettings:{v2.pk}", f"study.AssessmentSchedule:{schedule.pk}"],
        "reason": "",
    }
    refused = client.post(URL, posted)
    assert refused.status_code == 200 and not ProtocolVersion.objects.exists()
    posted["reason"] = "ethics approval of amendment 1"
    response = client.post(URL, posted)
    assert response.status_code == 302, response.content.decode()[-1500:]
    version = ProtocolVersion.objects.get()
    assert (version.number, version.approval_date, version.created_by) == ("2.0", date(2026, 4, 20), admin)
    assert ProtocolSettings.objects.get(pk=v2.pk).protocol_version == version
    page = client.get(URL).content.decode()
    assert "protocol version 2.0, approved 2026-04-20" in page
    admin.language = "zh-hans"
    admin.save()
    client.post("/language/", {"language": "zh-hans"})
    chinese = client.get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "方案版本" in chinese and "随此版本生效的设置版本" in chinese


def test_only_the_study_admin_opens_the_page(users_a, login, client):
    login(users_a["coordinator"])
    assert client.get(URL).status_code == 403


def test_home_shows_the_version_in_force(users_a, study, login, client):
    admin = users_a["study_admin"]
    record(admin, study, "1.0", date(2025, 12, 20))
    login(users_a["coordinator"])
    page = client.get("/").content.decode()
    assert "Protocol version in force" in page
    assert "1.0 (approved 2025-12-20)" in page


def test_a_visit_schedule_version_is_grouped_under_an_amendment_like_the_settings(users_a, study, login, client):
    """The visit schedule's versions (issue 27 item 1) are settings versions too: a schedule
    published on the schedule page is offered on the protocol versions page beside the
    schedule of assessments published with it, grouped with a reason (audited), and the
    schedule page's history names the protocol version it came in with."""
    from django.apps import apps

    from study.models import VisitSchedule
    from study.schedule import VisitPlan, publish_visit_schedule
    from tests.factories import demo_schedule

    admin = users_a["study_admin"]
    demo_schedule(study)
    schedule, _changed = publish_visit_schedule(
        actor=admin,
        study=study,
        effective_from=date(2026, 4, 1),
        visits=[VisitPlan(code="D28", day=28, window_before=3, window_after=7, forms=["VS"])],
        reason="amendment 2",
        known_forms={"VS"},
    )
    forms = AssessmentSchedule.objects.get(study=study, version=2)  # published with it, same date
    version = record(admin, study, "1.0", date(2025, 12, 20))
    free = {(i.kind, i.version, i.effective_from) for i in amendments.unattached(study)}
    assert free == {
        ("Schedule of assessments", 1, date(2020, 1, 1)),
        ("Schedule of assessments", 2, date(2026, 4, 1)),
        ("Visit schedule", 1, date(2026, 4, 1)),
    }
    login(admin)
    page = client.get(URL).content.decode()
    assert "Visit schedule version 1, effective from 2026-04-01" in page
    answer = client.post(
        URL,
        {
            "action": "attach",
            "attach-version": version.pk,
            "attach-attach": [f"study.VisitSchedule:{schedule.pk}", f"study.AssessmentSchedule:{forms.pk}"],
            "attach-reason": "amendment 2 approved",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[-1500:]
    assert VisitSchedule.objects.get(pk=schedule.pk).protocol_version == version
    assert [(i.kind, i.version) for i in amendments.settings_of(version)] == [
        ("Schedule of assessments", 2),
        ("Visit schedule", 1),
    ]
    event = apps.get_model("study", "VisitScheduleEvent").objects.get(pgh_obj_id=schedule.pk, pgh_label="update")
    assert (event.protocol_version_id, event.pgh_context["reason"], event.pgh_context["user"]) == (
        version.pk,
        "amendment 2 approved",
        admin.pk,
    )
    with pytest.raises(ValidationError) as refused:  # one amendment only
        record(admin, study, "2.0", date(2026, 4, 20), attach=[f"study.VisitSchedule:{schedule.pk}"])
    assert list(refused.value.message_dict) == ["attach"]
    history = client.get("/admin/schedule/").content.decode()
    assert '<td class="protocol-version">1.0</td>' in history
    admin.language = "zh-hans"
    admin.save(update_fields=["language"])
    chinese = client.get(URL).content.decode()
    assert "访视计划" in chinese
