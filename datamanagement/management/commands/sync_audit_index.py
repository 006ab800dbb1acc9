"""Install the audit-index trigger on every subject-scoped history table and index the history
rows not indexed yet (what every migrate does; for a database restored with triggers off)."""

from django.core.management.base import BaseCommand
from django.db import connection

from crf.dbroles import app_role
from datamanagement import audit_index


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        indexed = audit_index.sync(connection, app_role=app_role())
        self.stdout.write(f"{indexed} history rows indexed.")
