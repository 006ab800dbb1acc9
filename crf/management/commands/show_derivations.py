"""`manage.py show_derivations`: the derivation graph — what saving each form re-derives and
through which function (the `dependants` of its declaration, crf.declarations); every other hook
run after a save (alerts, DLT candidates…); and the forms a protocol settings version re-derives
(crf.derivations)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crf import derivations
from crf.rederive import graph, save_hooks_outside_graph


class Command(BaseCommand):
    help = "List every declared cross-form re-derivation (source form → dependants, through which function)."

    def handle(self, *args: Any, **options: Any) -> None:
        for edge in graph():
            self.stdout.write(f"{edge.source} → {', '.join(edge.dependants)}")
            self.stdout.write(f"    through {edge.through}: {edge.summary[:160]}")
        for source, hook in save_hooks_outside_graph():
            self.stdout.write(f"{source} → (save hook)")
            self.stdout.write(f"    through {hook.through}: {hook.summary[:160]}".rstrip(": "))
        labels = ", ".join(sorted(model._meta.label for model in derivations.derived_models()))
        self.stdout.write(f"study.ProtocolSettings → {labels}")
        self.stdout.write("    through crf.rederive.rederive_for_settings (forms dated on or after the version)")
