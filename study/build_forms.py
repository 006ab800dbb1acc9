"""Forms of the study build pages (issue 27 item 1): sites. Each carries the reason for change,
required once subjects are registered in the study (checked again by the service)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clinical.units import decimal_text
from study.build import COUNTRIES, time_zones
from study.models import LANGUAGE_CHOICES, Site, VisitDefinition
from study.widgets import DateInput

ANCHOR_CHOICES = VisitDefinition.Anchor.choices


def reason_field(live: bool) -> forms.CharField:
    return forms.CharField(
        label=_("Reason for change"),
        max_length=300,
        required=live,
        help_text=_("Required once subjects are registered in the study."),
    )


class SiteForm(forms.Form):
    code = forms.CharField(label=_("Site code"), max_length=10)
    name = forms.CharField(label=_("Name (English)"), max_length=200)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=200)
    subject_prefix = forms.CharField(
        label=_("Subject ID prefix"), max_length=10, help_text=_("Subject IDs of this site start with it.")
    )
    country = forms.ChoiceField(label=_("Country"))
    time_zone = forms.ChoiceField(label=_("Time zone"), help_text=_("Fixed once the site has subjects."))
    default_language = forms.ChoiceField(label=_("Default language"), choices=LANGUAGE_CHOICES)
    active_from = forms.DateField(label=_("Active from"), required=False, widget=DateInput)
    active_to = forms.DateField(label=_("Active to"), required=False, widget=DateInput)

    def __init__(self, *args: Any, site: Site | None = None, live: bool = False, **kwargs: Any) -> None:
        if site is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                name: getattr(site, name)
                for name in (
                    "code",
                    "name",
                    "name_zh",
                    "subject_prefix",
                    "country",
                    "time_zone",
                    "default_language",
                    "active_from",
                    "active_to",
                )
            }
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", "—"), *COUNTRIES.items()]
        self.fields["country"].required = False
        self.fields["time_zone"].choices = [(z, z) for z in time_zones()]
        self.fields["time_zone"].initial = self.fields["time_zone"].initial or "Asia/Shanghai"
        if site is None:
            self.initial.setdefault("time_zone", "Asia/Shanghai")
            self.initial.setdefault("country", "CN")
        self.fields["reason"] = reason_field(live)


class ScheduleForm(forms.Form):
    """A new version of the visit schedule: per visit its target day, window before/after and
    expected forms, prefilled with the version in force; one optional new visit; the effective
    date and the reason."""

    #: shown under the grid by `_partials/version_save.html`, with the save button
    version_fields = ("effective_from", "reason")

    effective_from = forms.DateField(
        label=_("Effective from"),
        widget=DateInput,
        help_text=_("Visits planned on or after this date follow the new version."),
    )

    def __init__(
        self,
        *args: Any,
        definitions: list[Any],
        timing: dict[str, dict[str, Any]],
        matrix: dict[str, list[str]],
        form_choices: list[tuple[str, str]],
        live: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = definitions
        for d in definitions:
            now = timing.get(d.code, {})
            event = d.anchor == "event"
            self.fields[f"{d.code}-day"] = forms.IntegerField(
                label=_("%(code)s: target day") % {"code": d.code},
                required=False,
                initial=now.get("day"),
                disabled=event,
                widget=forms.NumberInput(attrs={"size": "4"}),
            )
            for side, label in (("window_before", _("window before")), ("window_after", _("window after"))):
                self.fields[f"{d.code}-{side}"] = forms.IntegerField(
                    label=_("%(code)s: %(what)s (days)") % {"code": d.code, "what": label},
                    min_value=0,
                    max_value=365,
                    initial=now.get(side, 0),
                    widget=forms.NumberInput(attrs={"size": "3"}),
                )
            self.fields[f"{d.code}-forms"] = forms.MultipleChoiceField(
                label=_("%(code)s: expected forms") % {"code": d.code},
                choices=form_choices,
                required=False,
                initial=matrix.get(d.code, []),
                widget=forms.SelectMultiple(attrs={"size": "3"}),
            )
        self.fields["new-code"] = forms.CharField(label=_("New visit: code"), max_length=20, required=False)
        self.fields["new-name"] = forms.CharField(label=_("New visit: English name"), max_length=100, required=False)
        self.fields["new-name_zh"] = forms.CharField(label=_("New visit: Chinese name"), max_length=100, required=False)
        self.fields["new-anchor"] = forms.ChoiceField(
            label=_("New visit: counted from"), choices=ANCHOR_CHOICES, required=False, initial="infusion"
        )
        self.fields["new-day"] = forms.IntegerField(label=_("New visit: target day"), required=False)
        self.fields["new-window_before"] = forms.IntegerField(
            label=_("New visit: window before (days)"), min_value=0, max_value=365, required=False, initial=0
        )
        self.fields["new-window_after"] = forms.IntegerField(
            label=_("New visit: window after (days)"), min_value=0, max_value=365, required=False, initial=0
        )
        self.fields["new-forms"] = forms.MultipleChoiceField(
            label=_("New visit: expected forms"),
            choices=form_choices,
            required=False,
            widget=forms.SelectMultiple(attrs={"size": "3"}),
        )
        self.fields["reason"] = reason_field(live)

    def rows(self) -> list[dict[str, Any]]:
        """One row per visit for the template: the definition and its bound fields."""
        return [
            {
                "definition": d,
                "cells": [self[f"{d.code}-{name}"] for name in ("day", "window_before", "window_after", "forms")],
            }
            for d in self.definitions
        ]

    def new_row(self) -> list[forms.BoundField]:
        return [
            self[f"new-{name}"]
            for name in ("code", "name", "name_zh", "anchor", "day", "window_before", "window_after", "forms")
        ]

    def plans(self) -> list[Any]:
        from study.schedule import VisitPlan

        data = self.cleaned_data
        plans = [
            VisitPlan(
                code=d.code,
                day=None if d.anchor == "event" else data.get(f"{d.code}-day"),
                window_before=data[f"{d.code}-window_before"],
                window_after=data[f"{d.code}-window_after"],
                forms=list(data.get(f"{d.code}-forms") or []),
            )
            for d in self.definitions
        ]
        if (data.get("new-code") or "").strip():
            plans.append(
                VisitPlan(
                    code=data["new-code"].strip(),
                    day=data.get("new-day"),
                    window_before=data.get("new-window_before") or 0,
                    window_after=data.get("new-window_after") or 0,
                    forms=list(data.get("new-forms") or []),
                    is_new=True,
                    name=data.get("new-name") or "",
                    name_zh=data.get("new-name_zh") or "",
                    anchor=data.get("new-anchor") or "infusion",
                )
            )
        return plans


class DoseLevelsForm(forms.Form):
    """Dose levels (order, code, target ×10⁶ CAR+ cells/kg, acceptable range ± %) and the
    expected-toxicity list, as a new protocol settings version from a date."""

    #: shown under the grid by `_partials/version_save.html`, with the save button
    version_fields = ("expected_toxicities", "effective_from", "reason")

    expected_toxicities = forms.CharField(
        label=_("Expected toxicities (CTCAE v5.0 terms, one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("Not counted as dose-limiting (CLINICAL_SPEC §3.1)."),
    )
    effective_from = forms.DateField(label=_("Effective from"), widget=DateInput)
    reason = forms.CharField(label=_("Reason for the new version"), max_length=300)

    def __init__(self, *args: Any, levels: list[Any], toxicities: list[str], spare: int = 2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n = len(levels) + spare
        for i in range(self.n):
            level = levels[i] if i < len(levels) else None
            self.fields[f"level-{i}-order"] = forms.IntegerField(
                label=_("Order"),
                min_value=1,
                required=False,
                initial=i + 1 if level is not None else None,
                widget=forms.NumberInput(attrs={"size": "3"}),
            )
            self.fields[f"level-{i}-code"] = forms.CharField(
                label=_("Dose level code"), max_length=20, required=False, initial=getattr(level, "code", "")
            )
            self.fields[f"level-{i}-target"] = forms.DecimalField(
                label=_("Target (×10⁶ CAR+ cells/kg)"),
                required=False,
                max_digits=12,
                decimal_places=6,
                initial=None if level is None else decimal_text(level.target_cells_per_kg / Decimal("1E6")),
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": "8"}),
            )
            self.fields[f"level-{i}-range"] = forms.DecimalField(
                label=_("Acceptable range (± %)"),
                required=False,
                max_digits=5,
                decimal_places=2,
                initial=None if level is None else decimal_text(level.range_pct),
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": "5"}),
            )
        self.fields["expected_toxicities"].initial = "\n".join(toxicities)
        self.order_fields(
            [f"level-{i}-{name}" for i in range(self.n) for name in ("order", "code", "target", "range")]
            + ["expected_toxicities", "effective_from", "reason"]
        )

    def level_rows(self) -> list[list[forms.BoundField]]:
        return [[self[f"level-{i}-{name}"] for name in ("order", "code", "target", "range")] for i in range(self.n)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for i in range(self.n):
            code = (data.get(f"level-{i}-code") or "").strip()
            if not code:
                continue
            for name in ("order", "target"):
                if data.get(f"level-{i}-{name}") is None and f"level-{i}-{name}" not in self.errors:
                    self.add_error(f"level-{i}-{name}", _("Required for a dose level."))
        return data

    def levels(self) -> list[Any]:
        from study.dose_levels import LevelPlan

        data = self.cleaned_data
        return [
            LevelPlan(
                order=data[f"level-{i}-order"],
                code=data[f"level-{i}-code"].strip(),
                target_millions=data[f"level-{i}-target"],
                range_pct=data.get(f"level-{i}-range") if data.get(f"level-{i}-range") is not None else Decimal("30"),
            )
            for i in range(self.n)
            if (data.get(f"level-{i}-code") or "").strip()
        ]

    def toxicities(self) -> list[str]:
        text = self.cleaned_data.get("expected_toxicities") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]
