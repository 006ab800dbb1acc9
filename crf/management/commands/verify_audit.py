"""`manage.py verify_audit`: walk every audit hash chain and report the first broken link
(issue 21). Exit status 1 on a break, so cron and operators can act on it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crf.audit_integrity import verify_and_alert


class Command(BaseCommand):
    help = "Verify the audit trail hash chains and the chain heads recorded outside the database."

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_and_alert()
        self.stdout.write(f"{result.tables} event tables, {result.links} links verified")
        if not result.ok:
            for line in result.breaks:
                self.stderr.write(line)
            raise CommandError(f"audit chain broken: {result.first_break}")
        self.stdout.write("audit chains intact")
