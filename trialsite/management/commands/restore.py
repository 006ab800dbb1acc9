"""`manage.py restore DUMP [--dbname NAME]`: restore a `manage.py backup` dump into an EMPTY
database (default: the configured one) as the database owner, check its SHA-256 first and every
table's row count after, and re-apply the audit guards and the application role's privileges
(trialsite/backup.py)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trialsite.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a backup into an empty database, with its history, triggers and privileges."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("dump", type=Path)
        parser.add_argument(
            "--dbname", default=None, help="Target database on the same server (default: DATABASE_URL's)."
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        try:
            rows = restore(options["dump"], dbname=options["dbname"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Restored {len(rows)} tables, {sum(rows.values())} rows, as the manifest says.")
        )
