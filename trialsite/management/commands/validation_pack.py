"""`manage.py validation_pack [--out DIR] [--results FILE ...]`: write the validation pack
(docs/validation/traceability.md and .csv) from the requirements, the tests' `req` markers and
the last run's JUnit results (trialsite/validation.py)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from trialsite.validation import PROJECT_DIR, generate, iter_failed


class Command(BaseCommand):
    help = "Write docs/validation/traceability.md and .csv: requirements, their tests and the last results."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "validation"))
        parser.add_argument("--results", nargs="*", help="JUnit XML files (default: artifacts/junit-*.xml)")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        results = [Path(p) for p in options["results"]] if options["results"] else None
        pack = generate(Path(options["out"]), result_files=results)
        covered = len(pack.requirements) - len(pack.uncovered)
        self.stdout.write(
            f"{len(pack.requirements)} requirements, {covered} covered, {len(pack.uncovered)} uncovered; "
            f"written to {options['out']}"
        )
        for node in iter_failed(pack):
            self.stdout.write(f"failed: {node}")
