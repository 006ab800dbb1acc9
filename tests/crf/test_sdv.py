"""Source data verification (issue 7 item 2; DESIGN §4 "SDV marks", §4a "mark SDV"): marks on
a form or a field, cleared by a later change to the verified data (shown on the page), audited;
the SDV plan with a reproducible sample; the SDV worklist per site; who may do what."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from crf import sdv
from crf.models import SdvMark, SdvMarkEvent, SdvPlan, SdvPlanEvent
from crf.registry import crf_models
from crf.sdv import DEFAULT_FULL_FORMS
from labs.models import VitalSigns
from tests.conftest import make_user

pytestmark = pytest.mark.req("ISSUE-7")

ROLES = ("coordinator", "investigator", "monitor", "data_manager", "statistician", "study_admin")
#: DESIGN §4a "mark SDV"
MAY_MARK_SDV = {"monitor"}
#: DESIGN §4a "view CRF pages"
MAY_VIEW = {"coordinator", "investigator", "monitor", "data_manager"}


@pytest.fixture
def login(login, client):
    def _switch(user):
        client.logout()
        return login(user)

    return _switch


def _form_url(vs: VitalSigns) -> str:
    return f"/subjects/{vs.subject_id}/forms/VS/{vs.pk}/"


def _sdv_url(vs: VitalSigns) -> str:
    return f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/sdv/"


def _active(vs: VitalSigns) -> list[str]:
    return sorted(m.field_name for m in SdvMark.objects.filter(object_id=vs.pk, cleared_at__isnull=True))


def test_marks_set_on_the_page_and_cleared_by_a_change_on_the_page(vs, users_a, login, client):
    monitor, coordinator = users_a["monitor"], users_a["coordinator"]
    login(monitor)
    page = client.get(_form_url(vs)).content.decode()
    assert "Mark the whole form source-verified" in page and 'id="sdv-systolic_bp"' in page
    assert client.post(_sdv_url(vs), {"field_name": "systolic_bp"}).status_code == 302
    assert client.post(_sdv_url(vs), {"field_name": "diastolic_bp"}).status_code == 302
    assert client.post(_sdv_url(vs), {}).status_code == 302  # the whole form
    assert _active(vs) == ["", "diastolic_bp", "systolic_bp"]
    page = client.get(_form_url(vs)).content.decode()
    assert "Source-verified ✓" in page

    # the coordinator corrects the systolic pressure on the form
    login(coordinator)
    response = client.post(
        _form_url(vs),
        {
            "opened_version": "1",
            "assessment_date": "2026-03-02",
            "systolic_bp": "118",
            "diastolic_bp": "80",
            "oxygen_device": "room_air",
            "reason": "Transcription error.",
        },
    )
    assert response.status_code == 302
    # the changed field's mark and the whole-form mark are cleared; the other field's mark stays
    assert _active(vs) == ["diastolic_bp"]
    cleared = SdvMark.objects.get(object_id=vs.pk, field_name="systolic_bp")
    assert (cleared.cleared_by, cleared.cleared_reason) == (coordinator, "Changed to version 2: systolic_bp")
    page = client.get(_form_url(vs)).content.decode()
    assert page.count("SDV cleared by change on ") == 2  # the form's status and the field
    assert "Source-verified ✓" not in page

    # every step audited: the marks' inserts by the monitor, the clearing with the change's reason
    events = SdvMarkEvent.objects.filter(pgh_obj_id=cleared.pk).order_by("pgh_id")
    assert [(e.pgh_label, e.pgh_context["username"], e.pgh_context["role"]) for e in events] == [
        ("insert", "monitor_a", "monitor"),
        ("update", "coordinator_a", "coordinator"),
    ]
    assert events.last().pgh_context["reason"] == "Transcription error."
    assert events.last().cleared_at is not None

    # verified again: the page shows the new mark, not the cleared one
    login(monitor)
    client.post(_sdv_url(vs), {"field_name": "systolic_bp"})
    page = client.get(_form_url(vs)).content.decode()
    assert page.count("SDV cleared by change on ") == 1  # only the whole-form mark is still cleared


def test_an_unchanged_save_clears_nothing(vs, users_a, save_vs):
    sdv.mark_verified(user=users_a["monitor"], form=vs)
    save_vs(vs, heart_rate=72)  # a field nobody verified changes: the whole-form mark goes
    assert _active(vs) == []
    sdv.mark_verified(user=users_a["monitor"], form=vs, field_name="systolic_bp")
    save_vs(vs, heart_rate=74)
    assert _active(vs) == ["systolic_bp"]


def test_marking_twice_or_an_unknown_field_is_refused(vs, users_a):
    monitor = users_a["monitor"]
    sdv.mark_verified(user=monitor, form=vs, field_name="systolic_bp")
    with pytest.raises(ValidationError) as refused:
        sdv.mark_verified(user=monitor, form=vs, field_name="systolic_bp")
    assert refused.value.messages == ["Already verified."]
    with pytest.raises(ValidationError) as refused:
        sdv.mark_verified(user=monitor, form=vs, field_name="hypotension")
    assert refused.value.message_dict == {"field_name": ["This form has no such field to verify."]}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_mark_sdv_on_the_page(vs, users_a, login, client, role):
    login(users_a[role])
    response = client.post(_sdv_url(vs), {"field_name": "systolic_bp"})
    if role in MAY_MARK_SDV:
        assert response.status_code == 302
        assert _active(vs) == ["systolic_bp"]
    else:
        assert response.status_code == 403
        assert _active(vs) == []
    with pytest.raises(PermissionDenied) if role not in MAY_MARK_SDV else _nothing():
        sdv.mark_verified(user=users_a[role], form=vs, field_name="diastolic_bp")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_monitor_at_another_site_gets_404(vs, site_b, login, client):
    login(make_user("monitor_b", site=site_b, role="monitor"))
    assert client.post(_sdv_url(vs), {}).status_code == 404
    assert _active(vs) == []


# --- the plan and the worklist ------------------------------------------------------------------


def test_the_sample_is_a_pure_function_of_seed_code_and_id():
    picks = [n for n in range(1, 21) if sdv.in_sample(seed=7, crf_code="VS", form_id=n, percent=20)]
    assert picks == [n for n in range(1, 21) if sdv.in_sample(seed=7, crf_code="VS", form_id=n, percent=20)]
    assert picks == [2]
    assert [n for n in range(1, 21) if sdv.in_sample(seed=2, crf_code="VS", form_id=n, percent=20)] == [
        3,
        4,
        8,
        9,
        14,
        16,
        20,
    ]
    # over many forms the share is the plan's percentage
    assert sum(sdv.in_sample(seed=7, crf_code="VS", form_id=n, percent=20) for n in range(1, 10001)) == 2001
    assert all(sdv.in_sample(seed=1, crf_code="VS", form_id=n, percent=100) for n in range(1, 50))
    assert not any(sdv.in_sample(seed=1, crf_code="VS", form_id=n, percent=0) for n in range(1, 50))


def test_worklist_lists_what_the_plan_selects_and_is_not_verified(crf_ready, save_vs, users_a, login, client, study):
    forms = [save_vs(subject=crf_ready, heart_rate=60 + n) for n in range(6)]
    # every vital-signs form in full: all six remain until verified
    sdv.save_plan(
        user=users_a["data_manager"], study=study, full_forms=["VS"], sample_percent=0, seed=1, reason="start"
    )
    login(users_a["monitor"])
    page = client.get("/data/sdv/").content.decode()
    assert "6 forms remain to verify" in page
    sdv.mark_verified(user=users_a["monitor"], form=forms[0])
    sdv.mark_verified(user=users_a["monitor"], form=forms[1], field_name="heart_rate")
    page = client.get("/data/sdv/").content.decode()
    assert "5 forms remain to verify" in page and "1 field verified" in page
    assert f"/forms/VS/{forms[0].pk}/" not in page and f"/forms/VS/{forms[1].pk}/" in page
    # a change to the verified form puts it back on the list, marked as cleared
    save_vs(forms[0], heart_rate=99)
    page = client.get("/data/sdv/").content.decode()
    assert "6 forms remain to verify" in page and "SDV cleared by a change" in page

    # a sample instead: only the forms the seeded sample selects
    sdv.save_plan(user=users_a["study_admin"], study=study, full_forms=[], sample_percent=50, seed=3, reason="sample")
    expected = [f for f in forms[1:] if sdv.in_sample(seed=3, crf_code="VS", form_id=f.pk, percent=50)]
    expected += [forms[0]] if sdv.in_sample(seed=3, crf_code="VS", form_id=forms[0].pk, percent=50) else []
    page = client.get("/data/sdv/").content.decode()
    for form in forms:
        assert (f"/forms/VS/{form.pk}/" in page) == (form in expected)


def test_sdv_plan_page_is_for_the_study_admin_and_data_managers(users_a, login, client, study):
    for role in ROLES:
        login(users_a[role])
        response = client.get("/data/sdv/plan/")
        assert response.status_code == (200 if role in {"study_admin", "data_manager"} else 403), role
    login(users_a["data_manager"])
    plan_v2 = {"full_forms": ["INF", "ELIG"], "sample_percent": "25", "seed": "42", "reason": "SDV plan v2"}
    response = client.post("/data/sdv/plan/", plan_v2)
    assert response.status_code == 302
    plan = SdvPlan.objects.get(study=study)
    assert (plan.sample_percent, plan.seed, plan.updated_by) == (25, 42, users_a["data_manager"])
    # the forms ticked, plus the planned codes of forms not built yet (they stay in the plan);
    # a built form left unticked (AE, CRS, …) leaves it
    unbuilt = {code for code in DEFAULT_FULL_FORMS if code not in crf_models()}
    assert set(plan.full_forms) == {"INF", "ELIG"} | unbuilt
    assert "AE" not in plan.full_forms
    event = SdvPlanEvent.objects.filter(pgh_obj_id=plan.pk).get()
    assert (event.pgh_context["reason"], event.pgh_context["username"]) == ("SDV plan v2", "data_manager_a")
    too_many = {"full_forms": ["VS"], "sample_percent": "101", "seed": "1", "reason": "x"}
    response = client.post("/data/sdv/plan/", too_many)
    assert response.status_code == 400
    assert SdvPlan.objects.get(study=study).sample_percent == 25


@pytest.mark.parametrize("role", ROLES)
def test_who_may_open_the_sdv_worklist(users_a, login, client, role):
    login(users_a[role])
    assert client.get("/data/sdv/").status_code == (200 if role in MAY_MARK_SDV else 403)
