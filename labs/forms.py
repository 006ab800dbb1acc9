"""The panel entry page's form: one collection (date, time, visit, sex) and a grid of the
panel's analytes, each with value, unit, LLN and ULN. Tab moves down the value column first,
then the unit column, then LLN and ULN (`tabindex`), so a coordinator types a report's values
top to bottom without leaving the keyboard."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinical.units import UNIT_LABELS, Analyte, Panel, decimal_text, panel_analytes
from labs.models import ANALYTE_NAMES, Laboratory, LabResult, Sex
from labs.services import PanelRow
from study.language import name_of

GRID_COLUMNS = ("value", "unit", "lln", "uln")


def plain(value: Decimal | None) -> str | None:
    """A stored decimal as typed: 20.000000 → "20", never "2E+1"."""
    return None if value is None else decimal_text(value)


def _decimal(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=18,
        decimal_places=6,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": "8"}),
    )


class LabPanelForm(forms.Form):
    collected_on = forms.DateField(label=_("Collection date"))
    collected_time = forms.TimeField(label=_("Collection time (site local)"), required=False)
    visit = forms.ModelChoiceField(label=_("Visit"), queryset=None, required=False)  # type: ignore[arg-type]
    sex = forms.ChoiceField(
        label=_("Sex (for the reference range)"),
        choices=[("", "—"), *Sex.choices],
        required=False,
        help_text=_("As on the lab report; chooses the site's reference range when LLN/ULN are not given."),
    )
    laboratory = forms.ModelChoiceField(label=_("Laboratory"), queryset=None, required=False)  # type: ignore[arg-type]
    mark_complete = forms.BooleanField(label=_("Mark these results complete"), required=False)
    reason = forms.CharField(
        label=_("Reason for change"),
        max_length=300,
        required=False,
        help_text=_("Required when you change results that are complete."),
    )

    def __init__(self, *args: Any, subject: Any, panel: Panel, existing: dict[str, LabResult], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.panel = panel
        self.analytes: tuple[Analyte, ...] = panel_analytes(panel)
        self.existing = existing
        labs = Laboratory.objects.filter(site_id=subject.site_id).order_by("code")
        lab_field = self.fields["laboratory"]
        lab_field.queryset = labs  # type: ignore[attr-defined]
        lab_field.label_from_instance = lambda lab: f"{lab.code} · {name_of(lab)}"  # type: ignore[attr-defined]
        if len([lab for lab in labs if lab.active]) == 1 and not existing:
            lab_field.initial = next(lab.pk for lab in labs if lab.active)
        visit_field = self.fields["visit"]
        visit_field.queryset = subject.visits.select_related("definition")  # type: ignore[attr-defined]
        visit_field.label_from_instance = lambda v: f"{v.definition.code} · {v.definition.display_name}"  # type: ignore[attr-defined]
        self.fields["collected_on"].widget.input_type = "date"  # type: ignore[attr-defined]
        self.fields["collected_on"].widget.format = "%Y-%m-%d"  # type: ignore[attr-defined]
        self.fields["collected_time"].widget.input_type = "time"  # type: ignore[attr-defined]
        self.fields["collected_time"].widget.format = "%H:%M"  # type: ignore[attr-defined]
        self.fields["collected_time"].help_text = _("Site time (%(zone)s).") % {
            "zone": timezone.get_current_timezone_name()
        }
        n = len(self.analytes)
        for i, entry in enumerate(self.analytes):
            saved = existing.get(entry.code)
            name = ANALYTE_NAMES[entry.code]
            self.fields[f"{entry.code}__value"] = _decimal(_("%(analyte)s: result") % {"analyte": name})
            self.fields[f"{entry.code}__unit"] = forms.ChoiceField(
                label=_("%(analyte)s: unit") % {"analyte": name},
                choices=[(u, UNIT_LABELS[u]) for u in entry.units],
                initial=entry.standard_unit,
            )
            self.fields[f"{entry.code}__lln"] = _decimal(_("%(analyte)s: LLN") % {"analyte": name})
            self.fields[f"{entry.code}__uln"] = _decimal(_("%(analyte)s: ULN") % {"analyte": name})
            self.fields[f"{entry.code}__version"] = forms.IntegerField(widget=forms.HiddenInput, required=False)
            for column, name_ in enumerate(GRID_COLUMNS):
                # down the value column first, then units, then LLN, then ULN
                self.fields[f"{entry.code}__{name_}"].widget.attrs["tabindex"] = str(10 + column * n + i)
            if saved is not None and not self.is_bound:
                self.initial[f"{entry.code}__value"] = plain(saved.value)
                self.initial[f"{entry.code}__unit"] = saved.unit
                self.initial[f"{entry.code}__lln"] = plain(saved.lln)
                self.initial[f"{entry.code}__uln"] = plain(saved.uln)
                self.initial[f"{entry.code}__version"] = saved.version
        for i, name_ in enumerate(("collected_on", "collected_time", "visit", "sex", "laboratory")):
            self.fields[name_].widget.attrs["tabindex"] = str(1 + i)
        after_grid = 10 + len(GRID_COLUMNS) * n
        self.fields["mark_complete"].widget.attrs["tabindex"] = str(after_grid)
        self.fields["reason"].widget.attrs["tabindex"] = str(after_grid + 1)
        self.submit_tabindex = after_grid + 2
        first = next(iter(existing.values()), None)
        if first is not None and not self.is_bound:
            self.initial.update(
                collected_on=first.collected_on,
                collected_time=first.collected_time,
                visit=first.visit_id,
                sex=first.sex,
                laboratory=first.laboratory_id,
                mark_complete=all(r.entry_status == "complete" for r in existing.values()),
            )

    def grid(self) -> list[dict[str, Any]]:
        """The rows of the grid for the template: analyte, its bound fields and the saved row."""
        rows = []
        for entry in self.analytes:
            saved = self.existing.get(entry.code)
            rows.append(
                {
                    "analyte": entry,
                    "name": ANALYTE_NAMES[entry.code],
                    "standard_unit": UNIT_LABELS[entry.standard_unit],
                    "saved": saved,
                    "standard": None if saved is None else plain(saved.standard_value),
                    "standard_lln": None if saved is None else plain(saved.standard_lln),
                    "standard_uln": None if saved is None else plain(saved.standard_uln),
                    "cells": [self[f"{entry.code}__{column}"] for column in GRID_COLUMNS],
                    "version": self[f"{entry.code}__version"],
                }
            )
        return rows

    def header_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("collected_on", "collected_time", "visit", "sex", "laboratory")]

    def panel_rows(self) -> list[PanelRow]:
        data = self.cleaned_data
        return [
            PanelRow(
                analyte=entry.code,
                value=data.get(f"{entry.code}__value"),
                unit=data.get(f"{entry.code}__unit") or entry.standard_unit,
                lln=data.get(f"{entry.code}__lln"),
                uln=data.get(f"{entry.code}__uln"),
                expected_version=data.get(f"{entry.code}__version"),
            )
            for entry in self.analytes
        ]

    def add_panel_errors(
        self, row_errors: dict[str, dict[str, list[str]]], collection_errors: dict[str, list[str]]
    ) -> None:
        for code, fields in row_errors.items():
            for field, messages in fields.items():
                name = f"{code}__{field}"
                self.add_error(name if name in self.fields else f"{code}__value", messages)
        for field, messages in collection_errors.items():
            self.add_error(field if field in self.fields else None, messages)
