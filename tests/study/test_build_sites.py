"""Study build, sites (issue 27 item 1): the study admin adds and changes sites (code, names in
both languages, time zone, country, active from/to) on a page; every other role is refused
(DESIGN §4a); changes are audited, need a reason once the study is live, and a site's time zone
is fixed once it has subjects (a form error, nothing saved)."""

from __future__ import annotations

import pytest

from study.models import Site
from study.roles import Role
from subjects.models import Subject

pytestmark = pytest.mark.req("ISSUE-27")

LIST = "/admin/sites/"
ADD = "/admin/sites/add/"


def _post(**overrides: str) -> dict[str, str]:
    data = {
        "code": "03",
        "name": "Beijing site",
        "name_zh": "北京中心",
        "subject_prefix": "C",
        "country": "CN",
        "time_zone": "Asia/Shanghai",
        "default_language": "zh-hans",
        "active_from": "2026-03-01",
        "active_to": "",
        "reason": "",
    }
    data.update(overrides)
    return data


def test_only_the_study_admin_reaches_the_site_pages(site_a, users_a, login, client):
    """DESIGN §4a "sites": study admin only; the five other roles get 403 on every page."""
    for role in Role:
        client.logout()
        login(users_a[role.value])
        expected = 200 if role == Role.STUDY_ADMIN else 403
        assert client.get(LIST).status_code == expected, role
        assert client.get(ADD).status_code == expected, role
        assert client.get(f"/admin/sites/{site_a.pk}/").status_code == expected, role
        answer = client.post(ADD, _post(code=f"9{len(role.value)}"))
        assert answer.status_code == (302 if role == Role.STUDY_ADMIN else 403), role
    assert Site.objects.filter(study=site_a.study).count() == 2


def test_admin_adds_a_site_in_both_languages_audited(site_a, users_a, login, client):
    login(users_a["study_admin"])
    answer = client.post(ADD, _post())
    assert answer.status_code == 302
    site = Site.objects.get(study=site_a.study, code="03")
    assert (site.name, site.name_zh, site.time_zone) == ("Beijing site", "北京中心", "Asia/Shanghai")
    assert site.country == "CN"
    assert site.active_from.isoformat() == "2026-03-01"
    event = site.events.get()  # pghistory insert event, with the admin in its context
    assert event.pgh_context["username"] == "study_admin_a"
    page = client.get(LIST).content.decode()
    assert "北京中心" not in page  # an English reader sees the English name
    assert "Beijing site" in page and "China" in page and "Asia/Shanghai" in page


def test_bad_input_is_a_field_error_and_nothing_is_saved(site_a, users_a, login, client):
    login(users_a["study_admin"])
    for overrides, field in (
        ({"code": "01"}, "code"),  # site A has it
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"active_from": "2026-05-01", "active_to": "2026-04-30"}, "active_to"),
        ({"name_zh": ""}, "name_zh"),
    ):
        answer = client.post(ADD, _post(**overrides))
        assert answer.status_code == 200, overrides
        assert field in answer.context["form"].errors, overrides
    assert Site.objects.filter(study=site_a.study).count() == 1


def test_time_zone_fixed_once_the_site_has_subjects_and_reason_needed(site_a, users_a, login, client):
    login(users_a["study_admin"])
    url = f"/admin/sites/{site_a.pk}/"
    fields = _post(code="01", name="Site A", name_zh="A 中心", subject_prefix="A", default_language="en")
    # no subject yet: the zone may change, and no reason is needed
    assert client.post(url, {**fields, "time_zone": "Asia/Tokyo"}).status_code == 302
    assert Site.objects.get(pk=site_a.pk).time_zone == "Asia/Tokyo"
    Subject.objects.create(site=site_a, subject_id="A-001")
    answer = client.post(url, {**fields, "time_zone": "Asia/Shanghai", "reason": "wrong zone"})
    assert answer.status_code == 200
    assert "time zone is fixed" in " ".join(answer.context["form"].errors["time_zone"])
    assert Site.objects.get(pk=site_a.pk).time_zone == "Asia/Tokyo"
    # the study is live: another change needs a reason
    answer = client.post(url, {**fields, "time_zone": "Asia/Tokyo", "name": "Site A (Langfang)"})
    assert answer.status_code == 200 and "reason" in answer.context["form"].errors
    answer = client.post(
        url, {**fields, "time_zone": "Asia/Tokyo", "name": "Site A (Langfang)", "reason": "official name"}
    )
    assert answer.status_code == 302
    site = Site.objects.get(pk=site_a.pk)
    assert site.name == "Site A (Langfang)"
    assert site.events.order_by("-pgh_id").first().pgh_context["reason"] == "official name"


def test_chinese_page(site_a, users_a, login, client):
    admin = users_a["study_admin"]
    admin.language = "zh-hans"
    admin.save(update_fields=["language"])
    login(admin)
    client.post(ADD, _post())
    page = client.get(LIST).content.decode()
    assert "北京中心" in page and "中国" in page


def test_no_subject_is_registered_outside_the_site_activity_period(site_a, users_a):
    """A site's active from/to bound the consent date of its new subjects (a field error)."""
    from datetime import date

    from django.core.exceptions import ValidationError

    from subjects.services import subject as services
    from tests.factories import protocol_v1

    protocol_v1(site_a.study)
    Site.objects.filter(pk=site_a.pk).update(active_from=date(2026, 3, 1), active_to=date(2026, 9, 30))
    site_a.refresh_from_db()
    coordinator = users_a["coordinator"]
    for on in (date(2026, 2, 28), date(2026, 10, 1)):
        with pytest.raises(ValidationError) as refused:
            services.record_consent(user=coordinator, site=site_a, consent_version="1.0", consent_date=on)
        assert "consent_date" in refused.value.message_dict
    assert not Subject.objects.exists()
    subject = services.record_consent(
        user=coordinator, site=site_a, consent_version="1.0", consent_date=date(2026, 3, 1)
    )
    assert subject.site == site_a
