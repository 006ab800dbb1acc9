"""What the job commands share (`manage.py compute_endpoints`, `manage.py export_datasets`,
DESIGN §6): the data cut's arguments, read into the study, the user the job runs as (None: the
system), the cut-off date and the snapshot instant, each refused with a clear message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from study.models import Study, User


@dataclass(frozen=True)
class DataCut:
    study: Study
    user: User | None
    cutoff: date
    snapshot: datetime | None


def add_data_cut_arguments(parser: CommandParser) -> None:
    parser.add_argument("--study", required=True, help="study code")
    parser.add_argument("--cutoff", required=True, help="clinical cut-off date, YYYY-MM-DD")
    parser.add_argument("--user", default="", help="run as this user (default: the system, every site)")
    parser.add_argument("--snapshot", default="", help="ISO 8601 instant with its zone; default: now")
    parser.add_argument("--queue", action="store_true", help="only request it; a worker does it")


def data_cut(options: dict[str, Any]) -> DataCut:
    study = Study.objects.filter(code=options["study"]).first()
    if study is None:
        raise CommandError(f"no study {options['study']!r}")
    user = None
    if options["user"]:
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {options['user']!r}")
    try:
        cutoff = date.fromisoformat(options["cutoff"])
        snapshot = datetime.fromisoformat(options["snapshot"]) if options["snapshot"] else None
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if snapshot is not None and snapshot.tzinfo is None:
        raise CommandError("--snapshot needs its zone (e.g. 2026-06-30T18:00+08:00)")
    return DataCut(study=study, user=user, cutoff=cutoff, snapshot=snapshot)


def refused(exc: ValidationError) -> CommandError:
    """A request's field errors as one command error: "snapshot_at: The snapshot time …"."""
    return CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
