"""Run as the database owner: migrate, then create/grant the application's own role.

`make run`, docker-compose and CI call this with the owner's DATABASE_URL; the web server,
workers and relay then connect as DB_APP_ROLE (default trialsite_app), which owns no table and
cannot switch the audit triggers off (crf/dbroles.py)."""

from __future__ import annotations

import os

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from crf.dbroles import ensure_app_role


class Command(BaseCommand):
    help = "Migrate as the owner and set up the application's database role (password from DB_APP_PASSWORD)."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        call_command("migrate", interactive=False, verbosity=0)
        role = ensure_app_role(connection, os.environ.get("DB_APP_PASSWORD") or None)
        self.stdout.write(self.style.SUCCESS(f"Database migrated; application role {role} granted."))
