"""`manage.py show_derivations`: the derivation graph — what saving each form re-derives and
through which function (crf.rederive.declare); every other hook run after a save
(crf.services.dependants_of: alerts, DLT candidates…); and the forms a protocol settings version
re-derives (crf.derivations)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crf import derivations
from crf.rederive import graph
from crf.services import _dependants


class Command(BaseCommand):
    help = "List every declared cross-form re-derivation (source form → dependants, through which function)."

    def handle(self, *args: Any, **options: Any) -> None:
        for edge in graph():
            self.stdout.write(f"{edge.source} → {', '.join(edge.dependants)}")
            self.stdout.write(f"    through {edge.through}: {edge.summary[:160]}")
        declared = {(edge.source, edge.through) for edge in graph()}
        for model, hooks in sorted(_dependants.items(), key=lambda item: item[0]._meta.label):
            for hook in hooks:
                through = f"{hook.__module__}.{hook.__qualname__}"
                if (model._meta.label, through) not in declared:
                    summary = " ".join((hook.__doc__ or "").strip().split("\n\n")[0].split())
                    self.stdout.write(f"{model._meta.label} → (save hook)")
                    self.stdout.write(f"    through {through}: {summary[:160]}".rstrip(": "))
        labels = ", ".join(sorted(model._meta.label for model in derivations.derived_models()))
        self.stdout.write(f"study.ProtocolSettings → {labels}")
        self.stdout.write("    through crf.rederive.rederive_for_settings (forms dated on or after the version)")
