"""Study build, dose levels and the expected-toxicity list (issue 27 item 1; CLINICAL_SPEC §3.1):
edited on their own page on the protocol settings' one versioned store (a new settings version
with an effective date, no second store), study admin only (DESIGN §4a), refused with field
reasons when wrong."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from study.models import ProtocolSettings
from study.roles import Role
from subjects.models import Subject
from tests.factories import protocol_v1

pytestmark = pytest.mark.req("ISSUE-27")

URL = "/admin/dose-levels/"


def _post(**overrides: str) -> dict[str, str]:
    data = {
        "level-0-order": "1",
        "level-0-code": "DL1",
        "level-0-target": "0.5",
        "level-0-range": "30",
        "level-1-order": "2",
        "level-1-code": "DL2",
        "level-1-target": "1",
        "level-1-range": "30",
        "level-2-order": "3",
        "level-2-code": "DL3",
        "level-2-target": "2",
        "level-2-range": "30",
        "level-3-order": "4",
        "level-3-code": "DL4",
        "level-3-target": "3",
        "level-3-range": "20",
        "expected_toxicities": "Febrile neutropenia\nHypokalemia",
        "effective_from": "2026-06-01",
        "reason": "amendment 3: DL4",
    }
    data.update(overrides)
    return data


@pytest.fixture
def configured(study, site_a):
    return protocol_v1(study)


def test_only_the_study_admin_reaches_the_dose_levels_page(configured, users_a, login, client):
    for role in Role:
        client.logout()
        login(users_a[role.value])
        expected = 200 if role == Role.STUDY_ADMIN else 403
        assert client.get(URL).status_code == expected, role
        assert client.post(URL, _post()).status_code == (302 if role == Role.STUDY_ADMIN else 403), role
    assert ProtocolSettings.objects.filter(study=configured.study).count() == 2


def test_a_new_level_and_toxicity_make_a_settings_version(configured, users_a, login, client):
    login(users_a["study_admin"])
    answer = client.post(URL, _post())
    assert answer.status_code == 302
    row = ProtocolSettings.objects.filter(study=configured.study).order_by("-version").first()
    assert (row.version, row.effective_from, row.reason) == (2, date(2026, 6, 1), "amendment 3: DL4")
    choices = row.choices()
    assert [(d.code, d.target_cells_per_kg, d.range_pct) for d in choices.dose_levels][-1] == (
        "DL4",
        Decimal("3E+6"),
        Decimal("20"),
    )
    assert choices.expected_toxicities == ("Febrile neutropenia", "Hypokalemia")
    # the other settings are carried over from version 1
    assert choices.dlt_window_days == configured.choices().dlt_window_days
    page = client.get(URL).content.decode()
    assert "Hypokalemia" in page and "amendment 3: DL4" in page


def test_bad_input_is_refused_with_reasons_and_nothing_is_saved(configured, users_a, site_a, login, client):
    Subject.objects.create(site=site_a, subject_id="A-001", dose_level="DL3", status="enrolled")
    login(users_a["study_admin"])
    for overrides, expected in (
        ({"level-3-code": "DL3"}, "Each dose level needs its own code."),
        ({"level-3-order": "3"}, "Two dose levels have the same order."),
        ({"level-3-target": "0"}, "DL4: the target dose must be above zero."),
        ({"level-3-range": "100"}, "DL4: the acceptable range is between 0 and 100 percent."),
        ({"expected_toxicities": "Febrile neutropenia\nBad feeling"}, "“Bad feeling” is not a CTCAE v5.0 term."),
        ({"level-2-code": "", "level-2-order": "", "level-2-target": ""}, "Subjects are enrolled at DL3"),
    ):
        answer = client.post(URL, _post(**overrides))
        assert answer.status_code == 200, overrides
        assert expected in answer.content.decode(), overrides
    answer = client.post(URL, _post(reason=""))
    assert answer.status_code == 200 and "reason" in answer.context["form"].errors
    assert ProtocolSettings.objects.filter(study=configured.study).count() == 1


def test_the_version_history_names_expected_toxicities_in_the_readers_language(configured, users_a, login, client):
    """The page's list showed "Febrile neutropenia 发热性中性粒细胞减少症" to a Chinese reader, its
    version table the English term alone."""
    admin = users_a["study_admin"]
    login(admin)
    assert client.post(URL, _post()).status_code == 302
    admin.language = "zh-hans"
    admin.save(update_fields=["language"])
    page = client.get(URL).content.decode()
    bodies = [chunk.split("</tbody>")[0] for chunk in page.split("<tbody>")[1:]]
    (history,) = [body for body in bodies if "amendment 3: DL4" in body]  # the version table
    assert "Febrile neutropenia 发热性中性粒细胞减少症" in history and "Hypokalemia 低钾血症" in history
