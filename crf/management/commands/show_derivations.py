"""`manage.py show_derivations`: the derivation graph — what saving each form re-derives and
through which function (crf.rederive.declare), plus the forms a protocol settings version
re-derives (crf.derivations)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crf import derivations
from crf.rederive import graph


class Command(BaseCommand):
    help = "List every declared cross-form re-derivation (source form → dependants, through which function)."

    def handle(self, *args: Any, **options: Any) -> None:
        for edge in graph():
            self.stdout.write(f"{edge.source} → {', '.join(edge.dependants)}")
            self.stdout.write(f"    through {edge.through}: {edge.summary}")
        labels = ", ".join(sorted(model._meta.label for model in derivations.derived_models()))
        self.stdout.write(f"study.ProtocolSettings → {labels}")
        self.stdout.write("    through crf.rederive.rederive_for_settings (forms dated on or after the version)")
