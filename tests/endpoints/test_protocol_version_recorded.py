"""Every endpoint run and export records the protocol version in force on its clinical cut-off
date (issue 27 item 2): on the row, its page, its API, and the export's define.xml."""

from __future__ import annotations

from datetime import date

import pytest

from endpoints import services as run_services
from exports import services as export_services
from exports.models import ExportFile, ExportStatus
from study import amendments
from tests.api.conftest import send, token_client
from tests.endpoints.conftest import make_world

pytestmark = pytest.mark.req("ISSUE-27")


@pytest.fixture
def world(db):
    world = make_world("amend")
    for number, approved in (("1.0", date(2025, 12, 20)), ("2.0", date(2026, 6, 1))):
        amendments.record_amendment(
            actor=world.admin,
            study=world.study,
            number=number,
            protocol_date=approved,
            approval_date=approved,
            summary=f"Protocol {number}",
            reason="ethics approval",
        )
    return world


def test_endpoint_runs_record_the_version_at_their_cutoff(world, login, client):
    before = run_services.request_run(actor=world.statistician, study=world.study, cutoff_date=date(2026, 5, 31))
    after = run_services.request_run(actor=world.statistician, study=world.study, cutoff_date=date(2026, 6, 1))
    assert (before.protocol_version, after.protocol_version) == ("1.0", "2.0")
    login(world.statistician)
    page = client.get(f"/endpoints/{after.pk}/").content.decode()
    assert "Protocol version at the cut-off" in page
    assert "<dd data-protocol-version>\n        2.0\n      </dd>" in page
    body = send(token_client(world.statistician), "GET", f"/api/v1/endpoint-runs/{before.pk}/").json()
    assert body["protocol_version"] == "1.0"


def test_exports_record_the_version_in_their_define(world, login, client):
    export = export_services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=date(2026, 6, 30), dataset_names=["TS", "DM"]
    )
    assert export.protocol_version == "2.0"
    export = export_services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    define = bytes(ExportFile.objects.get(export=export, name="define.xml").content).decode()
    assert f"<ProtocolName>{world.study.code} protocol version 2.0</ProtocolName>" in define
    assert "clinical cut-off 2026-06-30, protocol version 2.0" in define
    login(world.statistician)
    assert "Protocol version at the cut-off" in client.get(f"/exports/{export.pk}/").content.decode()
    body = send(token_client(world.statistician), "GET", f"/api/v1/exports/{export.pk}/").json()
    assert body["protocol_version"] == "2.0"
