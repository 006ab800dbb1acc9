"""The study settings page (DESIGN §4 protocol settings; issue 9 item 5): the study admin
changes "≥" to ">" for the relapse threshold and the count criteria (CLINICAL_SPEC §5.1 open
choices); the re-derivation the page requests changes the stored responses dated on or after
the effective date, in clinical-date order, with the audit rows, and the page lists what
changed (subject, form, old → new response) beside the version's history."""

from __future__ import annotations

import pytest

from crf.models import OutboxMessage
from crf.rederive import rederive_for_settings
from response.models import MarrowAssessmentEvent
from study.models import ProtocolSettings, Rederivation
from tests.response.conftest import day, marrow, reread
from tests.study.test_protocol_settings import _as_posted

pytestmark = [pytest.mark.req("ISSUE-9"), pytest.mark.req("CLINICAL_SPEC-5.1")]


def test_operators_changed_on_the_page_rederive_and_list_the_changed_responses(
    infused, coordinator, users_a, login, client
):
    one, two, three = infused(), infused(), infused()
    # Entered out of clinical order: day 90 (lower id) before day 28. Day 90 has circulating
    # blasts: a relapse once day 28 is a remission, NR while day 28 is only a PR.
    later = marrow(coordinator, one, on=day(90), blasts="3", pb="0.5")
    day28 = marrow(coordinator, one, on=day(28), blasts="5")  # exactly at the 5% relapse threshold
    later, day28 = reread(later), reread(day28)
    assert later.pk < day28.pk
    assert (day28.response, later.response) == ("PR", "NR")
    counts_at = reread(marrow(coordinator, two, on=day(28), blasts="2", anc="1.0", plt="150"))  # ANC exactly 1.0
    clear = reread(marrow(coordinator, three, on=day(28), blasts="2", anc="2.0", plt="150"))
    assert (counts_at.response, clear.response) == ("CR", "CR")

    login(users_a["study_admin"])
    page = client.get("/admin/protocol-settings/")
    data = _as_posted(page.context["form"])
    assert (data["value__relapse_operator"], data["value__count_operator"]) == (">=", ">=")
    data.update(
        {
            "value__relapse_operator": ">",
            "value__count_operator": ">",
            "effective_from": day(0).isoformat(),
            "reason": "ELN 2022: thresholds strictly above",
        }
    )
    response = client.post("/admin/protocol-settings/", data)
    assert response.status_code == 302
    v2 = ProtocolSettings.objects.get(version=2)
    job = OutboxMessage.objects.filter(sent_at__isnull=True).latest("pk")
    assert (job.task_name, job.kwargs) == ("study.tasks.rederive_for_settings", {"settings_id": v2.pk})
    rederive_for_settings(settings_id=job.kwargs["settings_id"])  # what the outbox task runs

    day28, later, counts_at, clear = (reread(ma) for ma in (day28, later, counts_at, clear))
    assert (day28.response, later.response, counts_at.response, clear.response) == ("CR", "relapse", "CRi", "CR")
    assert {ma.settings_version for ma in (day28, later, counts_at, clear)} == {2}

    reason = f"re-derived: protocol settings v2 effective {day(0)}"
    for ma, old, new in ((day28, "PR", "CR"), (later, "NR", "relapse"), (counts_at, "CR", "CRi")):
        audit = MarrowAssessmentEvent.objects.filter(pgh_obj_id=ma.pk, pgh_label="update").latest("pgh_id")
        assert (audit.response, audit.pgh_context["reason"]) == (new, reason)
        row = Rederivation.objects.get(settings=v2, form_label="response.marrowassessment", object_id=ma.pk)
        assert (row.previous["response"], row.changed["response"]) == (old, new)
    unchanged = Rederivation.objects.get(settings=v2, form_label="response.marrowassessment", object_id=clear.pk)
    assert "response" not in unchanged.changed

    page = client.get("/admin/protocol-settings/")
    listed = page.context["versions"][0].listed
    responses = {
        (str(c["subject"]), c["clinical_date"]): (v["old"], v["new"])
        for c in listed
        for v in c["values"]
        if v["name"] == "response"
    }
    assert responses == {
        (str(one), day(28)): ("PR", "CR"),
        (str(one), day(90)): ("NR", "relapse"),
        (str(two), day(28)): ("CR", "CRi"),
    }
    html = page.content.decode()
    assert "Relapse threshold operator: ≥ → &gt;" in html
    assert "Count criteria operator (ANC, platelets): ≥ → &gt;" in html
    assert (
        "derived response: PR → CR" in html
        and "derived response: NR → Relapse" in html
        and "derived response: CR → CRi" in html
    )
    assert f"/history/response.marrowassessment/{day28.pk}/" in html
    assert html.index(f"/forms/MA/{day28.pk}/") < html.index(f"/forms/MA/{later.pk}/")  # clinical-date order


def test_the_page_shows_the_values_in_force_today(infused, users_a, login, client):
    infused()
    login(users_a["study_admin"])
    html = client.get("/admin/protocol-settings/").content.decode()
    assert "In force today" in html and "Relapse threshold, marrow blasts (%)" in html
