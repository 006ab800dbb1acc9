"""The dump cache of synthetic studies (issue 13 item 4): generating 10,000 subjects takes
minutes, restoring them seconds. A cached study is a `pg_dump` custom-format, data-only dump of
the whole database right after generation, keyed by the options and by the code that decides
what is stored (the migrations, `clinical/` and the generator). Restoring empties the database's
tables and loads the dump with triggers off (its history rows are in it already)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import connection

from dbtools import pgtools
from demo.synthetic import Options

CODE_GLOBS = (
    "*/migrations/*.py",
    "clinical/*.py",
    "clinical/data/*",
    "demo/synthetic.py",
    "demo/synthetic_cache.py",
    "demo/synthetic_forms.py",
)


def code_hash(base: Path | None = None) -> str:
    """SHA-256 over the files that decide the stored rows: migrations, clinical rules, generator."""
    base = base or Path(settings.BASE_DIR)
    digest = hashlib.sha256()
    files = sorted({p for pattern in CODE_GLOBS for p in base.glob(pattern) if p.is_file() and ".venv" not in p.parts})
    for path in files:
        digest.update(str(path.relative_to(base)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(options: Options) -> str:
    described = {**asdict(options), "as_of": options.as_of.isoformat(), "code": code_hash()}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:20]


def cache_path(options: Options, cache_dir: Path) -> Path:
    return cache_dir / f"{options.study_code}-n{options.subjects}-s{options.seed}-{cache_key(options)}.dump"


def dump(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    # pg_dump of the server's own major version, reached as Django reaches it (dbtools.pgtools)
    pgtools.run("pg_dump", "--format=custom", "--data-only", "--no-owner", "--no-privileges", "--file", str(partial))
    partial.replace(path)  # a dump interrupted half-way is never taken for a cached study


#: what `migrate` wrote: kept when the data are emptied for a new generation (a dump has them)
SCHEMA_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})


def empty_tables(*, keep_schema_rows: bool = False) -> None:
    """TRUNCATE the tables of the database (superuser or owner only: history tables refuse it
    to anyone else, crf.dbroles); `keep_schema_rows` keeps what migrate wrote."""
    names = [
        t
        for t in connection.introspection.table_names(include_views=False)
        if not (keep_schema_rows and t in SCHEMA_TABLES)
    ]
    with connection.cursor() as cursor:
        # Only the tables holding rows: TRUNCATE costs per table (a restore resets the sequences).
        probes = " UNION ALL ".join(
            f"SELECT {i} FROM (SELECT 1 FROM {connection.ops.quote_name(t)} LIMIT 1) AS t{i}"  # noqa: S608
            for i, t in enumerate(names)
        )
        cursor.execute(probes)
        full = [names[row[0]] for row in cursor.fetchall()]
        if full:
            quoted = ", ".join(connection.ops.quote_name(t) for t in full)
            cursor.execute(f"TRUNCATE {quoted} CASCADE")


def restore(path: Path) -> None:
    """Replace the database's data with the dump's (same schema: the key holds the migrations)."""
    empty_tables()
    database = connection.settings_dict["NAME"]
    tool = pgtools.find_tool("pg_restore")
    connection.close()
    subprocess.run(
        [
            tool,
            "--data-only",
            "--disable-triggers",
            "--single-transaction",
            "--no-owner",
            "--dbname",
            database,
            str(path),
        ],
        check=True,
        env=pgtools.libpq_env(connection.settings_dict),
    )
