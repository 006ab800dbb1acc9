"""`python manage.py generate_synthetic_study --subjects N [--seed S] [--study CODE]`: a synthetic
study of N subjects with realistic per-subject volumes (demo.synthetic), cached as a dump
under the project's local folder and restored from it when asked for again (demo.synthetic_cache)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from demo import synthetic, synthetic_cache
from subjects.models import Subject

#: A synthetic study is only written into a database named as a scratch one (a restore or
#: --replace-data empties every table, audit history included).
SCRATCH_WORDS = ("synthetic", "bench", "test", "scratch")


class Command(BaseCommand):
    help = (
        "Generate a synthetic study of N subjects (benchmarks, dashboards) into an otherwise empty "
        "database, or restore it from the dump cache. Never run it on a database with real data."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--subjects", type=int, required=True, help="How many subjects (consented).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (same seed, same data).")
        parser.add_argument("--study", default="synthetic", help="Study code (default: synthetic).")
        parser.add_argument("--sites", type=int, default=5, help="Number of sites (default 5).")
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=synthetic.AS_OF,
            help=f"Data cut the dates are placed against (default {synthetic.AS_OF.isoformat()}).",
        )
        parser.add_argument("--no-cache", action="store_true", help="Generate even when a cached dump exists.")
        parser.add_argument(
            "--cache-dir",
            type=Path,
            default=Path(settings.LOCAL_DIR) / "synthetic",
            help="Where the dumps are kept (default settings.LOCAL_DIR / synthetic: .local/synthetic).",
        )
        parser.add_argument(
            "--replace-data",
            action="store_true",
            help="Empty every table of the database first (it must otherwise hold no subjects).",
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if options["subjects"] < 1:
            raise CommandError("--subjects must be at least 1.")
        opts = synthetic.Options(
            subjects=options["subjects"],
            seed=options["seed"],
            study_code=options["study"],
            sites=max(1, min(options["sites"], options["subjects"])),
            as_of=options["as_of"],
        )
        name = str(connection.settings_dict["NAME"])
        if not any(word in name.lower() for word in SCRATCH_WORDS):
            raise CommandError(
                f"Refusing to write a synthetic study into the database {name}: restoring or replacing empties every "
                f"table, audit history included. Use a database whose name contains one of {', '.join(SCRATCH_WORDS)}."
            )
        if not options["replace_data"] and Subject.objects.exists():
            raise CommandError(
                f"The database {connection.settings_dict['NAME']} already holds subjects. Use a database of its "
                "own for a synthetic study, or pass --replace-data to empty this one first."
            )
        path = synthetic_cache.cache_path(opts, options["cache_dir"])
        started = time.monotonic()
        if path.exists() and not options["no_cache"]:
            synthetic_cache.restore(path)
            self.stdout.write(f"Restored from the cache {path} in {time.monotonic() - started:.1f} s.")
            self._summary()
            return
        if options["replace_data"]:
            synthetic_cache.empty_tables(keep_schema_rows=True)
        counts = synthetic.generate(opts, progress=lambda m: self.stdout.write(m) if options["verbosity"] > 1 else None)
        generated = time.monotonic() - started
        synthetic_cache.dump(path)
        self.stdout.write(
            f"Generated in {generated:.1f} s, cached as {path} in {time.monotonic() - started - generated:.1f} s."
        )
        for name in sorted(counts):
            self.stdout.write(f"  {name}: {counts[name]}")
        self._summary()

    def _summary(self) -> None:
        # Fresh planner statistics, as autovacuum would gather after a real load: without them
        # PostgreSQL plans against empty-table estimates (a dashboard query took 150 ms, not 12).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(f"Subjects in the database: {Subject.objects.count()}."))
