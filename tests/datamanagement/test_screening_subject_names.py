"""The walk: pages that named a subject by `subject.subject_id` showed nothing for a subject still
in screening (no subject ID until enrolment). They name it as everywhere else: its subject ID, or
its screening number before enrolment."""

from __future__ import annotations

from tests.datamanagement.test_signatures import _sign_casebook
from tests.subjects.conftest import consent, coordinator, protocol, screened  # noqa: F401  (fixtures)


def test_a_screening_subjects_signatures_page_is_headed_by_its_screening_number(
    screened,  # noqa: F811
    users_a,
    rf,
    login,
):
    subject = screened()
    assert subject.subject_id == "" and subject.screening_number
    investigator = users_a["investigator"]
    _sign_casebook(rf, investigator, subject)
    html = login(investigator).get(f"/data/signatures/?subject={subject.pk}").content.decode()
    heading = " ".join(html.split("<h1>")[1].split("</h1>")[0].split())
    assert heading == f"Signatures · {subject.screening_number}"
    assert f'<a href="/subjects/{subject.pk}/">{subject.screening_number}</a>' in html
