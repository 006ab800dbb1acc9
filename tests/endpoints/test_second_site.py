"""Onboarding a second site end to end (issue 27 item 4): the study admin adds site 02 with its
laboratory and reference ranges on the study build pages, invites a coordinator and an
investigator there; the coordinator enters a subject to infusion and a lab result judged by
site 02's laboratory; site-01 users do not see it, site-02 users do not see site 01 (DESIGN §4
"Visibility gate"), and an endpoint run counts the subjects of both sites."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import time
from decimal import Decimal

import pytest
from django.core import mail

from clinical.units import Panel
from endpoints import services as endpoint_services
from endpoints.models import RunStatus
from labs.models import Laboratory, LabResult
from labs.services import PanelRow, record_lab_panel
from study.access import subjects_visible_to
from study.models import Site, User
from subjects.models import Subject
from tests.conftest import PASSWORD
from tests.endpoints.conftest import CUTOFF, DAY0, day

pytestmark = pytest.mark.req("ISSUE-27")


def _invite(client, site: Site, username: str, role: str) -> User:
    answer = client.post(
        "/admin/users/invite/",
        {
            "username": username,
            "email": f"{username}@example.org",
            "printed_name": username,
            "language": "",
            "site": site.pk,
            "role": role,
        },
    )
    assert answer.status_code == 302, answer.context["form"].errors if answer.context else answer
    # the invited person follows the e-mailed link and sets a password
    link = re.search(r"https?://\S+/accounts/set-password/\S+/", mail.outbox[-1].body).group(0)
    path = link.split("testserver", 1)[-1]
    form_page = client.get(path, follow=True)
    answer = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else path,
        {"new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert answer.status_code == 302, answer
    return User.objects.get(username=username)


def test_onboarding_a_second_site_end_to_end(world, client, login):
    # site 01 already runs: one subject infused there
    first = world.infused()
    login(world.admin)
    answer = client.post(
        "/admin/sites/add/",
        {
            "code": "02",
            "name": "Beijing site",
            "name_zh": "北京中心",
            "subject_prefix": "B",
            "country": "CN",
            "time_zone": "Asia/Shanghai",
            "default_language": "zh-hans",
            "active_from": "2026-02-01",
            "reason": "second site opens",
        },
    )
    assert answer.status_code == 302
    site02 = Site.objects.get(study=world.study, code="02")
    answer = client.post(
        "/admin/laboratories/",
        {
            "site": site02.pk,
            "code": "BJL",
            "name": "Beijing central lab",
            "name_zh": "北京中心实验室",
            "active": "on",
            "reason": "second site opens",
        },
    )
    lab = Laboratory.objects.get(site=site02, code="BJL")
    answer = client.post(
        f"/admin/laboratories/{lab.pk}/",
        {
            "form": "range",
            "range-analyte": "PLT",
            "range-unit": "10^9/L",
            "range-sex": "",
            "range-age_from": "0",
            "range-age_to": "",
            "range-lln": "125",
            "range-uln": "350",
            "range-effective_from": "2026-02-01",
            "range-reason": "second site opens",
        },
    )
    assert answer.status_code == 302
    coordinator02 = _invite(client, site02, "coordinator_02", "coordinator")
    investigator02 = _invite(client, site02, "investigator_02", "investigator")
    client.logout()

    # the site-02 coordinator enters a subject to infusion, and a platelet count
    site02_world = replace(world, site=site02, coordinator=coordinator02)
    second = site02_world.infused()
    assert (second.subject_id.startswith("B"), second.infusion_date) == (True, DAY0)
    (plt,) = record_lab_panel(
        user=coordinator02,
        subject=second,
        panel=Panel.CBC,
        collected_on=day(7),
        collected_time=time(8, 0),
        visit=None,
        sex="",
        rows=[PanelRow(analyte="PLT", value=Decimal("110"), unit="10^9/L")],
        complete=True,
    )
    assert (plt.laboratory, plt.flag, plt.ctcae_grade) == (lab, "L", 1)  # 75 < 110 < LLN 125

    # each site sees only its own subjects, on every path
    assert set(subjects_visible_to(world.coordinator)) == {first}
    assert set(subjects_visible_to(coordinator02)) == {second}
    assert set(subjects_visible_to(investigator02)) == {second}
    login(world.coordinator)
    assert client.get(f"/subjects/{second.pk}/").status_code == 404
    assert client.get(f"/api/v1/lab-results/{plt.pk}/").status_code == 404
    client.logout()
    login(investigator02)
    assert client.get(f"/subjects/{second.pk}/").status_code == 200
    assert client.get(f"/subjects/{first.pk}/").status_code == 404
    assert first.subject_id not in client.get("/subjects/").content.decode()

    # an endpoint run counts the subjects of both sites
    run = endpoint_services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    done = endpoint_services.compute_run(run_id=run.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    tables = {table["key"]: table["rows"] for table in json.loads(done.results_json)["tables"]}
    infused = next(row for row in tables["disposition"] if row["category"] == "infused")
    assert (infused["n"], infused["N"]) == (2, 2)
    assert Subject.objects.filter(site__study=world.study, infusion_date=DAY0).count() == 2
    assert LabResult.objects.filter(subject=second, laboratory=lab).count() == 1
