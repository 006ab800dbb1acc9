"""Protocol deviations (issue 5 item 3): recorded as a CRF, listed on the subject page and on the
study's deviation list (linked from the study home), through the visibility gate: not visible
to a user of another site (DESIGN §4a); an important deviation without corrective action is
queried."""

from __future__ import annotations

from datetime import date

import pytest

from crf.models import Query
from crf.services import mark_entered_in_error, save
from study.roles import Role
from subjects.models import ProtocolDeviation
from tests.conftest import make_user

pytestmark = pytest.mark.req("ISSUE-5")

DESCRIPTION = "Day-7 CBC drawn outside the window (+3 days)"


def deviation(user, subject, **values) -> ProtocolDeviation:
    data = {
        "deviation_date": date(2026, 3, 22),
        "category": "visit_window",
        "description": DESCRIPTION,
        "important": False,
        "corrective_action": "Re-trained ward staff on the visit schedule",
    }
    data.update(values)
    return save(user=user, instance=ProtocolDeviation(subject=subject, **data), expected_version=None)


def test_a_deviation_is_listed_on_the_subject_and_study_pages(consent, coordinator, login):
    subject = consent()
    deviation(coordinator, subject, important=True)
    client = login(coordinator)
    subject_page = client.get(f"/subjects/{subject.pk}/").content.decode()
    assert DESCRIPTION in subject_page and "Visit out of window" in subject_page
    study_page = client.get("/subjects/deviations/").content.decode()
    assert DESCRIPTION in study_page and str(subject) in study_page and "Important" in study_page
    assert 'href="/subjects/deviations/"' in client.get("/").content.decode()


def test_a_user_of_another_site_sees_neither_the_deviation_nor_the_subject(consent, coordinator, login, site_b):
    subject = consent()
    deviation(coordinator, subject)
    other = make_user("coordinator_b", site=site_b, role=Role.COORDINATOR)
    client = login(other)
    response = client.get("/subjects/deviations/")
    assert response.status_code == 200
    assert DESCRIPTION not in response.content.decode()
    assert list(response.context["deviations"]) == []
    assert client.get(f"/subjects/{subject.pk}/").status_code == 404


def test_roles_without_crf_pages_are_refused_the_list(users_a, login):
    assert login(users_a["statistician"]).get("/subjects/deviations/").status_code == 403


def test_the_monitor_sees_the_list(consent, coordinator, users_a, login):
    deviation(coordinator, consent())
    assert DESCRIPTION in login(users_a["monitor"]).get("/subjects/deviations/").content.decode()


def test_important_only_filter_and_entered_in_error_left_out(consent, coordinator, login):
    subject = consent()
    minor = deviation(coordinator, subject, description="Minor: late diary")
    deviation(coordinator, subject, important=True)
    removed = deviation(coordinator, subject, description="Typed twice")
    mark_entered_in_error(user=coordinator, instance=removed, expected_version=removed.version, reason="duplicate")
    client = login(coordinator)
    listed = [d.pk for d in client.get("/subjects/deviations/").context["deviations"]]
    assert minor.pk in listed and removed.pk not in listed and len(listed) == 2
    important = client.get("/subjects/deviations/?important=1").context["deviations"]
    assert [d.description for d in important] == [DESCRIPTION]


def test_the_list_runs_a_bounded_number_of_queries(consent, coordinator, login, django_assert_max_num_queries):
    subject = consent()
    for n in range(5):
        deviation(coordinator, subject, description=f"deviation {n}")
    client = login(coordinator)
    # 12, plus the header's unread safety notifications and its "My tasks (n)" (2, issue 31)
    # +2 since session 5: the header's unread notices (issue 31) and the dose-level names (issue 25)
    with django_assert_max_num_queries(17):
        assert client.get("/subjects/deviations/").status_code == 200


def test_an_important_deviation_without_corrective_action_is_queried_until_given(consent, coordinator):
    form = deviation(coordinator, consent(), important=True, corrective_action="")
    rule = Query.objects.filter(object_id=form.pk, rule_code="DV-IMPORTANT-NO-ACTION")
    assert list(rule.values_list("status", flat=True)) == ["open"]
    form.corrective_action = "Subject re-consented on the current version"
    save(user=coordinator, instance=form, expected_version=form.version)
    assert list(rule.values_list("status", flat=True)) == ["closed"]
