"""Installation qualification (IQ): is this installation what the project says it is?

`manage.py check_installation` runs every check here and prints a report an operator can file
with the validation documents (docs/validation/README.md). Each check answers PASS, WARN or FAIL
with the reason; any FAIL makes the command exit 1, naming its cause.

What is checked, and why:
- the Python version and every pinned runtime package (requirements.txt) as installed;
- the PostgreSQL server (version, UTF-8) and that every migration is applied;
- the audit trail (DESIGN §4): every pgtrigger/pghistory trigger installed, unmodified and
  enabled; the append-only triggers on every history table; the guarded ignore switch;
- the application role as designed (crf/dbroles.py): not a superuser, owns no table,
  cannot create in the schema or make temporary tables, cannot write history;
- the audit hash chains intact and matching the heads recorded outside the database;
- time: Django stores UTC and every site's time zone is a real IANA zone;
- e-mail: the backend imports and a sender address is set (the console backend is a warning).
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import sys
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django.utils.module_loading import import_string

from crf import dbroles
from study.version import code_version

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
PROJECT_DIR = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s#;]+)")
MIN_POSTGRES = 140000
APPEND_ONLY_TRIGGERS = ("trialsite_append_only_row", "trialsite_append_only_truncate")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def pinned_requirements(path: Path) -> Iterator[tuple[str, str]]:
    """(name, version) of every `name==version` line, following `-r other.txt` includes."""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("-r "):
            yield from pinned_requirements(path.parent / line[3:].strip())
            continue
        found = PIN.match(line)
        if found:
            yield found.group(1), found.group(2)


def check_python() -> Check:
    version = platform.python_version()
    ok = sys.version_info[:2] == (3, 11)
    return Check("python", PASS if ok else FAIL, f"Python {version}" + ("" if ok else " (3.11 required)"))


def check_packages(requirements: Path = PROJECT_DIR / "requirements.txt") -> Check:
    wrong: list[str] = []
    pins = list(pinned_requirements(requirements))
    for name, wanted in pins:
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name} missing (pinned {wanted})")
            continue
        if found != wanted:
            wrong.append(f"{name} {found} installed, {wanted} pinned")
    if wrong:
        return Check("packages", FAIL, "; ".join(wrong))
    return Check("packages", PASS, f"{len(pins)} pinned packages installed at their pinned versions")


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int, current_setting('server_encoding')")
        version_num, encoding = cursor.fetchone()
    detail = f"PostgreSQL {version_num // 10000}.{version_num % 10000}, encoding {encoding}"
    if version_num < MIN_POSTGRES:
        return Check("database", FAIL, detail + " (PostgreSQL 14 or later required)")
    if encoding != "UTF8":
        return Check("database", FAIL, detail + " (UTF8 required)")
    return Check("database", PASS, detail)


def check_migrations() -> Check:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _backwards in plan[:10])
        return Check("migrations", FAIL, f"{len(plan)} not applied: {names}")
    applied = len(executor.loader.applied_migrations)
    return Check("migrations", PASS, f"all {applied} applied")


def check_audit_triggers() -> Check:
    import pgtrigger
    from pgtrigger.core import INSTALLED

    problems: list[str] = []
    pairs = pgtrigger.registered()
    for model, trigger in pairs:
        status, enabled = trigger.get_installation_status(model)
        if status != INSTALLED:
            problems.append(f"{trigger.get_pgid(model)} on {model._meta.db_table}: {status.lower()}")
        elif not enabled:
            problems.append(f"{trigger.get_pgid(model)} on {model._meta.db_table}: disabled")
    history = dbroles.history_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = ANY(%s) AND c.relname = ANY(%s)",
            [list(APPEND_ONLY_TRIGGERS), history],
        )
        present = {(table, name): state for table, name, state in cursor.fetchall()}
        cursor.execute("SELECT to_regprocedure('public._pgtrigger_should_ignore(name)') IS NOT NULL")
        guarded_switch = cursor.fetchone()[0]
    for table in history:
        for name in APPEND_ONLY_TRIGGERS:
            state = present.get((table, name))
            if state is None:
                problems.append(f"{name} on {table}: missing")
            elif state != "O":
                problems.append(f"{name} on {table}: disabled")
    if not guarded_switch:
        problems.append("the guarded ignore switch public._pgtrigger_should_ignore is missing")
    if problems:
        return Check("audit triggers", FAIL, "; ".join(problems))
    return Check(
        "audit triggers",
        PASS,
        f"{len(pairs)} history triggers installed and enabled; {len(history)} history tables append-only",
    )


def check_app_role() -> Check:
    role = dbroles.app_role()
    problems: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = %s", [role]
        )
        row = cursor.fetchone()
        if row is None:
            return Check("application role", FAIL, f"role {role} does not exist (run manage.py setup_database)")
        if any(row):
            problems.append(f"{role} has superuser, createrole, createdb or bypassrls")
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = %s",
            [role],
        )
        if cursor.fetchone()[0]:
            problems.append(f"{role} owns objects in schema public")
        cursor.execute("SELECT has_schema_privilege(%s, 'public', 'CREATE')", [role])
        if cursor.fetchone()[0]:
            problems.append(f"{role} may create in schema public")
        cursor.execute("SELECT has_database_privilege(%s, current_database(), 'TEMPORARY')", [role])
        if cursor.fetchone()[0]:
            problems.append(f"{role} may create temporary tables (they could shadow event tables)")
        for table in dbroles.history_tables():
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, f"public.{table}", privilege])
                if cursor.fetchone()[0]:
                    problems.append(f"{role} has {privilege} on {table}")
    if problems:
        return Check("application role", FAIL, "; ".join(problems))
    return Check(
        "application role", PASS, f"{role}: no superuser, owns nothing, no temporary tables, cannot write history"
    )


def check_audit_chain() -> Check:
    """Every event table's hash chain intact, and its head as last recorded outside the database
    (crf/auditchain.py); read-only: the recorded heads are not advanced here."""
    from crf import auditchain

    result = auditchain.verify(tables=dbroles.history_tables(), record=False)
    if not result.ok:
        return Check("audit chain", FAIL, f"{len(result.breaks)} break(s), first: {result.first_break}")
    return Check("audit chain", PASS, f"{result.tables} event tables, {result.links} links intact")


def check_time() -> Check:
    from study.models import Site

    if not settings.USE_TZ or settings.TIME_ZONE != "UTC":
        return Check("time", FAIL, f"USE_TZ={settings.USE_TZ}, TIME_ZONE={settings.TIME_ZONE} (UTC storage required)")
    bad = []
    zones = sorted(set(Site.objects.values_list("time_zone", flat=True)))
    for name in zones:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            bad.append(name)
    if bad:
        return Check("time", FAIL, "unknown site time zones: " + ", ".join(bad))
    shown = ", ".join(zones) if zones else "no sites yet"
    return Check("time", PASS, f"stored in UTC; site zones: {shown}; now {timezone.now():%Y-%m-%d %H:%M} UTC")


def check_email() -> Check:
    backend = settings.EMAIL_BACKEND
    try:
        import_string(backend)
    except ImportError as exc:
        return Check("e-mail", FAIL, f"EMAIL_BACKEND {backend} does not import: {exc}")
    if not settings.DEFAULT_FROM_EMAIL:
        return Check("e-mail", FAIL, "DEFAULT_FROM_EMAIL is empty")
    if backend.endswith(("console.EmailBackend", "locmem.EmailBackend", "dummy.EmailBackend")):
        return Check("e-mail", WARN, f"{backend}: mail is not delivered (fine for trying, not for production)")
    return Check("e-mail", PASS, f"{backend}, from {settings.DEFAULT_FROM_EMAIL}")


#: Every check, in report order. Each is a function of nothing returning a Check.
CHECKS: tuple[Callable[[], Check], ...] = (
    check_python,
    check_packages,
    check_database,
    check_migrations,
    check_audit_triggers,
    check_app_role,
    check_audit_chain,
    check_time,
    check_email,
)


def run_checks(checks: Iterable[Callable[[], Check]] = CHECKS) -> list[Check]:
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as exc:  # a check that cannot run is a failed check, reported with its cause
            results.append(
                Check(check.__name__.removeprefix("check_").replace("_", " "), FAIL, f"{type(exc).__name__}: {exc}")
            )
    return results


def report(results: list[Check]) -> str:
    db = connection.settings_dict
    failed = [r for r in results if r.status == FAIL]
    lines = [
        "TrialSite installation qualification",
        f"generated: {timezone.now():%Y-%m-%d %H:%M:%S} UTC",
        f"host: {platform.node()}",
        f"code: {code_version()}",
        f"database: {db.get('NAME')} on {db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}"
        f" as {db.get('USER')}",
        "",
    ]
    lines += [f"{r.status}  {r.name}: {r.detail}" for r in results]
    lines += [
        "",
        f"result: {'FAIL' if failed else 'PASS'} ({len(results) - len(failed)} of {len(results)} checks passed)",
    ]
    return "\n".join(lines) + "\n"
