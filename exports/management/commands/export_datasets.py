"""`manage.py export_datasets --study CODE --cutoff YYYY-MM-DD [--user NAME] [--datasets DM,AE]
[--formats csv,xpt] [--snapshot ISO] [--out DIR] [--queue]`: export SDTM, RS and ADaM datasets (DESIGN §6).

By default the export is built in this process (no worker needed) and recorded like any other;
`--queue` only requests it (the outbox relay and a worker build it). `--user` exports as that
user (their sites, their permission); without it the export is the system's and covers every site.
`--out` also writes the files to a directory. Prints the conformance summary; exits 1 on
conformance errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports import services
from exports.models import ExportFile, ExportTrigger
from jobs.commands import add_data_cut_arguments, data_cut, refused


class Command(BaseCommand):
    help = "Export SDTM, RS and ADaM datasets (CSV / SAS XPT v5) with their conformance report."

    def add_arguments(self, parser: CommandParser) -> None:
        add_data_cut_arguments(parser)
        parser.add_argument("--datasets", default="", help="comma-separated; default: every dataset (SDTM, RS, ADaM)")
        parser.add_argument("--formats", default="csv,xpt")
        parser.add_argument("--out", default="", help="also write the files to this directory")

    def handle(self, *args: Any, **options: Any) -> None:
        cut = data_cut(options)
        split = lambda text: [p.strip() for p in text.split(",") if p.strip()]  # noqa: E731
        try:
            export = services.request_export(
                actor=cut.user,
                study=cut.study,
                cutoff_date=cut.cutoff,
                snapshot_at=cut.snapshot,
                dataset_names=[d.upper() for d in split(options["datasets"])] or None,
                formats=split(options["formats"]) or None,
                trigger=ExportTrigger.COMMAND,
            )
        except PermissionDenied as exc:
            raise CommandError("this user may not start exports (DESIGN §4a)") from exc
        except ValidationError as exc:
            raise refused(exc) from exc
        if options["queue"]:
            self.stdout.write(f"export {export.pk} queued")
            return
        export = services.compute_export(export_id=export.pk)
        if export.error:
            raise CommandError(f"export {export.pk} failed: {export.error}")
        if options["out"]:
            out = Path(options["out"])
            out.mkdir(parents=True, exist_ok=True)
            for file in ExportFile.objects.filter(export=export).order_by("pk").only("pk", "name"):
                with (out / file.name).open("wb") as written:
                    for piece in services.file_pieces(file.pk):  # a part at a time (issue 29 item 7)
                        written.write(piece)
        counts = ", ".join(f"{name} {rows}" for name, rows in export.row_counts.items())
        self.stdout.write(f"export {export.pk}: {counts}")
        self.stdout.write(f"conformance: {export.conformance_errors} errors, {export.conformance_warnings} warnings")
        for finding in export.conformance:
            if finding["severity"] != "note" or options["verbosity"] >= 2:
                where = ".".join(p for p in (finding["dataset"], finding["variable"]) if p)
                if finding["row"] is not None:
                    where += f" row {finding['row']}"
                self.stdout.write(f"  {finding['severity'].upper()} [{finding['check']}] {where}: {finding['message']}")
        if export.conformance_errors:
            raise SystemExit(1)
