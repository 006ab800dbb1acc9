"""`manage.py import_csv <CRF code> <file> --user <username> [--encoding …] [--dry-run]`: the
CSV import of one form (crf.imports), as that user, all rows or none. Prints how the file was
read and the report; exits 1 on any error (nothing saved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _

from crf import csvfiles
from crf.imports import import_forms
from crf.models import ImportRecord
from crf.registry import crf_model
from study.language import user_language
from study.models import User


class Command(BaseCommand):
    help = "Import one form's rows from a CSV file (all or nothing), as a user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("crf_code", help="CRF code, e.g. VS")
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="username: the import is done with their permissions")
        parser.add_argument("--encoding", default="", choices=["", *csvfiles.ENCODINGS], help="default: detect")
        parser.add_argument("--dry-run", action="store_true", help="check every row, save nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        model = crf_model(options["crf_code"])
        if model is None:
            raise CommandError(_("Unknown CRF code %(code)s.") % {"code": options["crf_code"]})
        try:
            user = User.objects.get(username=options["user"], is_active=True)
        except User.DoesNotExist:
            raise CommandError(_("No active user %(user)s.") % {"user": options["user"]}) from None
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(_("No file %(path)s.") % {"path": path})
        with translation.override(user_language(user)):
            try:
                csv_file = csvfiles.read_csv(path.read_bytes(), file_name=path.name, encoding=options["encoding"])
            except csvfiles.UnreadableFile as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(
                _("%(file)s: %(encoding)s (%(how)s), delimiter %(delimiter)s, %(rows)s rows, sha256 %(sha)s")
                % {
                    "file": path.name,
                    "encoding": csv_file.encoding_name,
                    "how": _("detected") if csv_file.detected else _("chosen"),
                    "delimiter": csv_file.delimiter_name,
                    "rows": len(csv_file.rows),
                    "sha": csv_file.sha256,
                }
            )
            result = import_forms(
                user=user,
                model=model,
                csv_file=csv_file,
                channel=ImportRecord.Channel.COMMAND,
                dry_run=options["dry_run"],
            )
            for error in result.errors:
                self.stdout.write(
                    _("row %(row)s, %(field)s: %(message)s")
                    % {"row": error.row, "field": error.field or "—", "message": error.message}
                )
            summary = _("%(outcome)s: %(created)s created, %(updated)s updated, %(errors)s errors.") % {
                "outcome": ImportRecord.Outcome(result.outcome).label,
                "created": len(result.created),
                "updated": len(result.updated),
                "errors": len(result.errors),
            }
            if result.errors:
                raise CommandError(summary, returncode=1)
            self.stdout.write(summary)
