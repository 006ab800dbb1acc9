"""`manage.py backup [--dir DIR]`: one consistent pg_dump of the data and the audit history with
its SHA-256 and a manifest of rows per table (trialsite/backup.py). Run it as the database owner.
DIR defaults to BACKUP_DIR, else .local/backups/."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from trialsite.backup import backup


class Command(BaseCommand):
    help = "Write a consistent dump (data and audit history) with its SHA-256 and manifest."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        default = os.environ.get("BACKUP_DIR") or str(Path(settings.LOCAL_DIR) / "backups")
        parser.add_argument("--dir", type=Path, default=Path(default))

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        made = backup(options["dir"])
        self.stdout.write(f"{made.sha256}  {made.dump}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {len(made.rows)} tables, {sum(made.rows.values())} rows ({made.manifest.name})."
            )
        )
