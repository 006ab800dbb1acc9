"""An export through the outbox relay and a REAL Celery worker on a private Redis (issue 14):
the worker builds it with progress and writes its files in one final transaction; an export of
the same cut and snapshot built in this process gives the same CSV and define bytes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exports import services
from exports.models import Export, ExportFile, ExportStatus
from exports.sdtm import SDTM_CORE
from tests.crf.test_outbox import wait_until
from tests.crf.test_outbox_faults import Stack
from tests.exports.conftest import CUTOFF, populate_for_export

pytestmark = [pytest.mark.slow, pytest.mark.req("ISSUE-14")]


@pytest.fixture
def stack(world, tmp_path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def shas(export: Export, fmt: str) -> dict[str, str]:
    return dict(ExportFile.objects.filter(export=export, fmt=fmt).values_list("name", "sha256"))


def test_an_export_goes_through_the_outbox_and_a_real_worker(world, stack):
    populate_for_export(world)
    stack.start_redis()
    stack.start_worker()
    # the SDTM core: RS and the ADaM datasets are checked on the small study in test_adam.py
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=SDTM_CORE
    )
    assert stack.relay_once().returncode == 0
    wait_until(
        lambda: Export.objects.get(pk=export.pk).status == ExportStatus.SUCCEEDED,
        timeout=120,
        what="the worker to finish the export",
    )
    done = Export.objects.get(pk=export.pk)
    assert (done.progress, done.attempts, done.conformance_errors) == (100, 1, 0)
    assert done.row_counts["AE"] == 8 and done.row_counts["DM"] == 4
    twin = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        snapshot_at=done.snapshot_at,
        dataset_names=SDTM_CORE,
    )
    twin = services.compute_export(export_id=twin.pk)
    # SUPPLB and SUPPVS are empty since the Day-0 rows went (issue 28): no file for an empty dataset
    # FA: the AE grade course, written with AE (issue 30)
    core = ["ae", "cm", "dm", "ds", "ex", "fa", "lb", "mh", "suppae", "suppcm", "suppdm", "suppds", "suppex", "vs"]
    assert shas(twin, "csv") == shas(done, "csv") and sorted(shas(done, "csv")) == [f"{n}.csv" for n in core]
    assert shas(twin, "json") == shas(done, "json")
    # XPT headers carry the snapshot time, not the clock: the same bytes too
    assert shas(twin, "xpt") == shas(done, "xpt") and sorted(shas(done, "xpt")) == [f"{n}.xpt" for n in core]
