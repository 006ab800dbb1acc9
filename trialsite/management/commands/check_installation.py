"""`manage.py check_installation [--output FILE]`: the installation qualification report.

Prints (and optionally writes) the report of trialsite/installation.py; exits 1 when any check
fails, naming its cause."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trialsite.installation import FAIL, report, run_checks


class Command(BaseCommand):
    help = "Check this installation (versions, migrations, audit triggers, roles, time, e-mail) and print a report."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--output", help="also write the report to this file")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        results = run_checks()
        text = report(results)
        self.stdout.write(text)
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
        failed = [r.name for r in results if r.status == FAIL]
        if failed:
            raise CommandError("installation check failed: " + ", ".join(failed))
