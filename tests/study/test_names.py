"""Names in both languages (issue 25 item 4): the study admin edits the English and Chinese names
of the study, its sites, dose levels and schedule visits on one page (DESIGN §4a "study settings,
schedule, dose levels, sites": study admin only), audited, with a reason once the study is live;
pages show each name in the reader's language, the API keeps the stored values."""

from __future__ import annotations

from datetime import date

import pytest

from study.models import DoseLevelName, ProtocolSettings, Site, Study, VisitDefinition
from study.roles import Role
from subjects.models import Subject

pytestmark = pytest.mark.req("ISSUE-25")

URL = "/admin/names/"


@pytest.fixture
def configured(study, site_a):
    from clinical.protocol import ProtocolChoices

    ProtocolSettings.objects.create(
        study=study,
        version=1,
        effective_from=date(2022, 1, 1),
        values=ProtocolChoices().to_json(),
        reason="defaults",
        created_at="2026-01-01T00:00:00Z",
    )
    visit = VisitDefinition.objects.create(
        study=study, code="D14", name="Day 14", name_zh="第 14 天", anchor="infusion", day=14, order=1
    )
    return study, site_a, visit


def _post(study, site, visit, **overrides) -> dict[str, str]:
    data = {
        f"study-{study.pk}-en": study.title,
        f"study-{study.pk}-zh": study.title_zh,
        f"site-{site.pk}-en": site.name,
        f"site-{site.pk}-zh": site.name_zh,
        "dose-DL1-en": "DL1",
        "dose-DL1-zh": "",
        "dose-DL2-en": "DL2",
        "dose-DL2-zh": "",
        "dose-DL3-en": "DL3",
        "dose-DL3-zh": "",
        f"visit-{visit.pk}-en": visit.name,
        f"visit-{visit.pk}-zh": visit.name_zh,
        "reason": "",
    }
    data.update(overrides)
    return data


def test_only_the_study_admin_reaches_the_names_page(configured, users_a, login, client):
    """DESIGN §4a: every other role is refused, 403 (a coordinator among them)."""
    study, site, visit = configured
    for role in Role:
        client.logout()
        login(users_a[role.value])
        expected = 200 if role == Role.STUDY_ADMIN else 403
        assert client.get(URL).status_code == expected, role
        answer = client.post(URL, _post(study, site, visit, **{"dose-DL1-zh": "剂量组 1"}))
        assert answer.status_code == (302 if role == Role.STUDY_ADMIN else 403), role
    assert DoseLevelName.objects.filter(study=study).count() == 1


def test_names_saved_in_both_languages_and_audited(configured, users_a, login, client):
    study, site, visit = configured
    admin = users_a["study_admin"]
    login(admin)
    answer = client.post(
        URL,
        _post(
            study,
            site,
            visit,
            **{
                f"site-{site.pk}-zh": "甲中心",
                "dose-DL2-en": "Level 2 (1.0 × 10⁶/kg)",
                "dose-DL2-zh": "剂量组 2（1.0 × 10⁶/kg）",
                f"visit-{visit.pk}-zh": "第 14 天访视",
            },
        ),
    )
    assert answer.status_code == 302
    site.refresh_from_db()
    visit.refresh_from_db()
    assert (site.name, site.name_zh) == ("Site A", "甲中心")
    assert visit.name_zh == "第 14 天访视"
    level = DoseLevelName.objects.get(study=study, code="DL2")
    assert (level.name, level.name_zh) == ("Level 2 (1.0 × 10⁶/kg)", "剂量组 2（1.0 × 10⁶/kg）")
    # DL1 and DL3 were left as their codes: no row written for them
    assert list(DoseLevelName.objects.filter(study=study).values_list("code", flat=True)) == ["DL2"]
    (site_event,) = site.events.filter(pgh_label="update")
    assert (site_event.name_zh, site_event.pgh_context["username"]) == ("甲中心", admin.username)
    (level_event,) = level.events.all()
    assert level_event.pgh_context["user"] == admin.pk
    page = client.get(URL).content.decode()
    assert "剂量组 2（1.0 × 10⁶/kg）" in page and "甲中心" in page  # the recent changes list


def test_a_live_study_needs_a_reason_and_nothing_is_saved_without_one(configured, users_a, login, client):
    study, site, visit = configured
    Subject.objects.create(site=site, subject_id="A-001")
    login(users_a["study_admin"])
    change = {f"site-{site.pk}-zh": "甲中心", "dose-DL1-zh": "剂量组 1"}
    answer = client.post(URL, _post(study, site, visit, **change))
    assert answer.status_code == 200
    assert "This field is required" in answer.content.decode()
    site.refresh_from_db()
    assert site.name_zh == "" and not DoseLevelName.objects.exists()
    answer = client.post(URL, _post(study, site, visit, reason="Chinese names from the ethics approval", **change))
    assert answer.status_code == 302
    site.refresh_from_db()
    assert site.name_zh == "甲中心"
    (event,) = site.events.filter(pgh_label="update")
    assert event.pgh_context["reason"] == "Chinese names from the ethics approval"


def test_bad_names_are_field_errors_and_nothing_is_saved(configured, users_a, login, client):
    study, site, visit = configured
    login(users_a["study_admin"])
    answer = client.post(
        URL,
        _post(study, site, visit, **{f"site-{site.pk}-en": "  ", f"visit-{visit.pk}-zh": "", "dose-DL1-zh": "x" * 101}),
    )
    assert answer.status_code == 200
    body = answer.content.decode()
    assert body.count('class="error"') == 3
    site.refresh_from_db()
    assert site.name == "Site A" and not DoseLevelName.objects.exists()


def test_pages_show_the_names_in_the_reader_language(configured, users_a, login, client):
    """A Chinese reader sees the dose level's and the site's Chinese names; an English reader the
    English ones; a level without a name shows its code."""
    from subjects.lifecycle import Status

    study, site, _visit = configured
    Site.objects.filter(pk=site.pk).update(name_zh="甲中心")
    Study.objects.filter(pk=study.pk).update(title_zh="测试研究")
    DoseLevelName.objects.create(
        study=study, code="DL2", name="Level 2 (1.0 × 10⁶/kg)", name_zh="剂量组 2（1.0 × 10⁶/kg）"
    )
    subject = Subject.objects.create(site=site, subject_id="A-001", dose_level="DL2", status=Status.ENROLLED)
    other = Subject.objects.create(site=site, subject_id="A-002", dose_level="DL3", status=Status.ENROLLED)
    coordinator = users_a["coordinator"]
    login(coordinator)
    for language, level, site_name, title in (
        ("zh-hans", "剂量组 2（1.0 × 10⁶/kg）", "甲中心", "测试研究"),
        ("en", "Level 2 (1.0 × 10⁶/kg)", "Site A", "Test study"),
    ):
        coordinator.language = language
        coordinator.save(update_fields=["language"])
        detail = client.get(f"/subjects/{subject.pk}/").content.decode()
        assert level in detail and site_name in detail, language
        listing = client.get("/subjects/").content.decode()
        assert level in listing, language
        home = client.get("/").content.decode()
        assert site_name in home and title in home, language
        assert ">DL3<" in client.get(f"/subjects/{other.pk}/").content.decode().replace("\n", "").replace(" ", "")
    # the API keeps the stored code
    coordinator.language = "zh-hans"
    coordinator.save(update_fields=["language"])
    body = client.get(f"/api/v1/subjects/{subject.pk}/").json()
    assert body["dose_level"] == "DL2"
