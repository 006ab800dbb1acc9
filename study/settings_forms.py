"""The protocol settings page's form: one input per ProtocolChoices field (CLINICAL_SPEC's open
choices), an effective date and a reason.

The dose levels and the expected-toxicity list are not typed here: they have their own page
(`study_build:dose_levels`, with an input per level and CTCAE term lookup), which publishes on the
same versioned settings. A version saved here carries them over unchanged, so a study admin never
edits stored JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clinical.protocol import ProtocolChoices
from study.dose_levels import levels_text
from study.language import ctcae_term_label

LABELS = {
    "hypotension_adult_sbp": _("Hypotension: SBP below (mmHg), from the adult age"),
    "hypotension_adult_from_age": _("Hypotension: adult threshold from age (years)"),
    "hypotension_child_base": _("Hypotension, children: base SBP (mmHg)"),
    "hypotension_child_per_year": _("Hypotension, children: added per year of age (mmHg)"),
    "hypotension_infant_sbp": _("Hypotension under 1 year: SBP below (mmHg)"),
    "crs_episode_gap_days": _("CRS episode gap (days)"),
    "capd_below_age": _("CAPD for children younger than (years)"),
    "lansky_below_age": _("Lansky performance scale for children younger than (years)"),
    "count_operator": _("Count criteria operator (ANC, platelets)"),
    "relapse_operator": _("Relapse threshold operator"),
    "relapse_threshold_pct": _("Relapse threshold, marrow blasts (%)"),
    "mrd_cutoff_pct": _("MRD-negative cut-off (%)"),
    "mrd_min_cells_flow": _("Flow MRD: minimum cells analysed"),
    "days_per_year": _("Days per year for 1-year survival"),
    "hsct_censored_in_primary": _("Censor at consolidative HSCT in the primary analysis"),
    "dlt_window_days": _("DLT window (last study day)"),
    "escalation_rule": _("Dose-escalation rule"),
    "expected_toxicities": _("Expected toxicities (CTCAE terms)"),
    "gvhd_child_below_kg": _("GvHD child stool column below weight (kg)"),
    "dose_levels": _("Dose levels (×10⁶ CAR+ cells/kg, range)"),
}
CHOICES = {
    "count_operator": [(">=", "≥"), (">", ">")],
    "relapse_operator": [(">=", "≥"), (">", ">")],
    "days_per_year": [("365", "365"), ("365.25", "365.25")],
    "escalation_rule": [("3+3", "3+3")],
}
#: Settings edited on the dose-level page, carried over unchanged by a version saved here.
CARRIED_OVER = ("expected_toxicities", "dose_levels")


class ProtocolSettingsForm(forms.Form):
    effective_from = forms.DateField(label=_("Effective from"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason for the new version"), max_length=300)

    def __init__(self, *args: Any, current: ProtocolChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = current.to_json()
        self.carried_over = {name: stored[name] for name in CARRIED_OVER}
        for name, value in stored.items():
            if name in CARRIED_OVER:
                continue
            label = LABELS[name]
            field: forms.Field
            if name in CHOICES:
                field = forms.ChoiceField(label=label, choices=CHOICES[name])
            elif isinstance(getattr(current, name), bool):
                field = forms.BooleanField(label=label, required=False)
            elif isinstance(getattr(current, name), int):
                field = forms.IntegerField(label=label, min_value=0)
            elif isinstance(getattr(current, name), Decimal):
                field = forms.DecimalField(label=label, min_value=Decimal("0"))
            else:
                field = forms.CharField(label=label)
            field.initial = value
            self.fields[f"value__{name}"] = field

    def values(self) -> dict[str, Any]:
        """The new version's values: the inputs, and the dose levels and expected toxicities of
        the version in force, unchanged."""
        out: dict[str, Any] = dict(self.carried_over)
        for key, value in self.cleaned_data.items():
            if key.startswith("value__"):
                out[key.removeprefix("value__")] = str(value) if isinstance(value, Decimal) else value
        return out


def _shown(name: str, value: Any) -> str:
    if name == "dose_levels":
        return levels_text(ProtocolChoices.from_json({"dose_levels": value}).dose_levels)
    if name == "expected_toxicities":
        return "; ".join(ctcae_term_label(term) for term in value) or "—"
    if name in CHOICES:
        return str(dict(CHOICES[name]).get(str(value), value))
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    return str(value)


def settings_differences(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings a version changed against the one before it, labelled for the page, with
    old → new values (all of them, old "—", for the first version or the current values)."""
    return [
        {
            "label": LABELS.get(name, name),
            "old": _shown(name, before[name]) if name in before else "—",
            "new": _shown(name, value),
        }
        for name, value in after.items()
        if name not in before or before[name] != value
    ]
