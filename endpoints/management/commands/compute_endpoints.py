"""`manage.py compute_endpoints --study CODE --cutoff YYYY-MM-DD [--user NAME] [--snapshot ISO]
[--sensitivity] [--out DIR] [--queue]`: an endpoint run from the command line (DESIGN §6 "compute
endpoints"; DESIGN §5 endpoint runs).

The run is recorded like one started on the page or through the API (`endpoints.services.request_run`,
trigger "command"): the same snapshot of the audit trail, the same tables, input and results
digests, and the run page shows it. By default it is computed in this process (no worker needed);
`--queue` only requests it (the outbox relay and a worker compute it). `--user` starts it as that
user (DESIGN §4a: a statistician, an investigator or a study admin), without it the run is the
system's, like the nightly one. `--sensitivity` adds the re-derivation at the cut-off
(CLINICAL_SPEC §6). `--out` writes `endpoints-run-<id>.json`, `.csv` and `.xlsx`. Prints the run
and its headline figures; exits 1 when the run fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from endpoints import services
from endpoints.models import EndpointRun, RunStatus, RunTrigger
from jobs.commands import add_data_cut_arguments, data_cut, refused

#: (table, category, detail) of the lines printed after a run: the endpoints of the protocol
HEADLINES = (
    ("crs_summary", "any", ""),
    ("crs_summary", "grade_3_or_higher", ""),
    ("icans_summary", "any", ""),
    ("icans_summary", "grade_3_or_higher", ""),
    ("marrow_response", "orr", "day_28"),
    ("marrow_response", "flow_mrd_negative", ""),
)


class Command(BaseCommand):
    help = "Compute an endpoint run (CRS, ICANS, AEs, DLTs, response, relapse, survival) at a data cut."

    def add_arguments(self, parser: CommandParser) -> None:
        add_data_cut_arguments(parser)
        parser.add_argument("--sensitivity", action="store_true", help="also re-derive at the cut-off")
        parser.add_argument("--out", default="", help="also write the results (JSON, CSV, XLSX) to this directory")

    def handle(self, *args: Any, **options: Any) -> None:
        cut = data_cut(options)
        try:
            run = services.request_run(
                actor=cut.user,
                study=cut.study,
                cutoff_date=cut.cutoff,
                snapshot_at=cut.snapshot,
                trigger=RunTrigger.COMMAND,
                rederive_at_cutoff=options["sensitivity"],
            )
        except PermissionDenied as exc:
            raise CommandError("this user may not start endpoint runs (DESIGN §4a)") from exc
        except ValidationError as exc:
            raise refused(exc) from exc
        if options["queue"]:
            self.stdout.write(f"endpoint run {run.pk} queued")
            return
        run = services.compute_run(run_id=run.pk)
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"endpoint run {run.pk} failed: {run.error}")
        if options["out"]:
            self._write(run, Path(options["out"]))
        self._report(run)

    def _write(self, run: EndpointRun, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"endpoints-run-{run.pk}"
        stem.with_suffix(".json").write_text(run.results_json, encoding="utf-8")
        stem.with_suffix(".csv").write_text(run.results_csv, encoding="utf-8")
        stem.with_suffix(".xlsx").write_bytes(bytes(run.results_xlsx))

    def _report(self, run: EndpointRun) -> None:
        document = json.loads(run.results_json)
        tables = {table["key"]: table["rows"] for table in document["tables"]}
        self.stdout.write(
            f"endpoint run {run.pk}: study {run.study.code}, cut-off {run.cutoff_date.isoformat()}, "
            f"snapshot {run.snapshot_at.isoformat() if run.snapshot_at else ''}, "
            f"{len(document['tables'])} tables"
        )
        self.stdout.write(f"inputs SHA-256 {run.input_sha256}  results SHA-256 {run.results_sha256}")
        for key, category, detail in HEADLINES:
            rows = [r for r in tables.get(key, []) if r.get("category") == category and r.get("detail") == detail]
            if len(rows) == 1:
                row = rows[0]
                self.stdout.write(
                    f"  {key} {category}{' ' + detail if detail else ''}: {row['n']}/{row['N']} "
                    f"{row['percent']}% (95% CI {row['ci_lower']}-{row['ci_upper']})"
                )
