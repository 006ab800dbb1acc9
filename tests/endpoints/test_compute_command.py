"""`manage.py compute_endpoints` (DESIGN §6 "Management commands: … compute endpoints"): a run from
the command line is recorded and computed like one from the page (DESIGN §5), as the user named
and with that user's permission (DESIGN §4a), and bad arguments record nothing."""

from __future__ import annotations

import json
from io import BytesIO, StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import load_workbook

from crf.models import OutboxMessage
from endpoints.models import EndpointRun, RunStatus, RunTrigger
from tests.endpoints.conftest import populate

pytestmark = [pytest.mark.req("DESIGN-6"), pytest.mark.req("DESIGN-5")]


def compute(*args: str) -> str:
    out = StringIO()
    call_command("compute_endpoints", *args, stdout=out)
    return out.getvalue()


def test_a_run_from_the_command_line_is_recorded_computed_and_written(world, tmp_path):
    populate(world)  # two infused subjects (B dies on day 20), no CRS, no marrow
    printed = compute("--study=endpoints", "--cutoff=2026-06-30", "--user=statistician_endpoints", f"--out={tmp_path}")
    run = EndpointRun.objects.get()
    assert (run.status, run.trigger, run.requested_by, str(run.cutoff_date)) == (
        RunStatus.SUCCEEDED,
        RunTrigger.COMMAND,
        world.statistician,
        "2026-06-30",
    )
    assert f"endpoint run {run.pk}: study endpoints, cut-off 2026-06-30" in printed
    assert f"inputs SHA-256 {run.input_sha256}  results SHA-256 {run.results_sha256}" in printed
    assert run.input_sha256.startswith("v2:") and len(run.results_sha256) == 64
    assert "crs_summary any: 0/2 0.0% (95% CI 0.0-84.2)" in printed
    assert "marrow_response orr day_28: 0/2 0.0% (95% CI 0.0-84.2)" in printed
    written = json.loads((tmp_path / f"endpoints-run-{run.pk}.json").read_text(encoding="utf-8"))
    assert written == json.loads(run.results_json)
    os_km = {t["key"]: t["rows"] for t in written["tables"]}["os_km"]
    assert [(r["time"], r["events"]) for r in os_km if r["events"]] == [("20", 1)]  # B dies on day 20
    assert (tmp_path / f"endpoints-run-{run.pk}.csv").read_text(encoding="utf-8") == run.results_csv
    book = load_workbook(BytesIO((tmp_path / f"endpoints-run-{run.pk}.xlsx").read_bytes()), read_only=True)
    assert "os_km" in book.sheetnames


def test_queue_only_requests_the_run(world):
    populate(world)
    assert compute("--study=endpoints", "--cutoff=2026-06-30", "--queue").startswith("endpoint run ")
    run = EndpointRun.objects.get()
    assert (run.status, run.requested_by, run.results_json) == (RunStatus.QUEUED, None, "")
    assert OutboxMessage.objects.filter(task_name="endpoints.tasks.compute_endpoint_run").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study=nope", "--cutoff=2026-06-30"], "no study 'nope'"),
        (["--study=endpoints", "--cutoff=30/06/2026"], "Invalid isoformat string"),
        (["--study=endpoints", "--cutoff=2026-06-30", "--snapshot=2026-06-30T10:00"], "needs its zone"),
        (["--study=endpoints", "--cutoff=2026-06-30", "--snapshot=2099-01-01T00:00+00:00"], "snapshot_at:"),
        (["--study=endpoints", "--cutoff=2026-06-30", "--user=coordinator_endpoints"], "may not start endpoint"),
        (["--study=endpoints", "--cutoff=2026-06-30", "--user=ghost"], "no active user 'ghost'"),
    ],
)
def test_bad_arguments_record_nothing(world, args, message):
    with pytest.raises(CommandError, match=message):
        compute(*args)
    assert EndpointRun.objects.count() == 0


def test_the_run_page_says_the_run_came_from_the_command(world, client, login):
    compute("--study=endpoints", "--cutoff=2026-06-30", "--user=statistician_endpoints")
    run = EndpointRun.objects.get()
    login(world.statistician)
    for url in (f"/endpoints/{run.pk}/", "/endpoints/"):
        page = client.get(url).content.decode()
        assert "statistician_endpoints" in page or world.statistician.display_name in page
        assert "(Management command)" in page, url
