"""Forms of the laboratory pages (issue 27 item 1)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clinical.units import UNIT_LABELS
from labs.models import ANALYTE_CHOICES, Sex
from study.build_forms import reason_field
from study.language import name_of
from study.widgets import DateInput


class LaboratoryForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=None)  # type: ignore[arg-type]
    code = forms.CharField(label=_("Laboratory code"), max_length=20)
    name = forms.CharField(label=_("Name (English)"), max_length=200)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=200)
    active = forms.BooleanField(label=_("In use"), required=False, initial=True)

    def __init__(self, *args: Any, sites: Any, live: bool, fixed_site: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["site"]
        field.queryset = sites  # type: ignore[attr-defined]
        field.label_from_instance = lambda site: f"{site.code} · {name_of(site)}"  # type: ignore[attr-defined]
        if fixed_site:
            del self.fields["site"]
        self.fields["reason"] = reason_field(live)


def _decimal(label: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=16,
        decimal_places=6,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": "8"}),
    )


class ReferenceRangeForm(forms.Form):
    analyte = forms.ChoiceField(label=_("Analyte"), choices=ANALYTE_CHOICES)
    unit = forms.ChoiceField(label=_("Unit"), choices=list(UNIT_LABELS.items()))
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", _("Both sexes")), *Sex.choices], required=False)
    age_from = forms.IntegerField(label=_("From age (years)"), min_value=0, max_value=150, initial=0)
    age_to = forms.IntegerField(
        label=_("Below age (years)"), min_value=1, max_value=150, required=False, help_text=_("Empty: no upper end.")
    )
    lln = _decimal(_("LLN"))
    uln = _decimal(_("ULN"))
    effective_from = forms.DateField(
        label=_("Effective from"),
        required=False,
        widget=DateInput,
        help_text=_("Results collected on or after this date are judged by this range. Empty: from the start."),
    )

    def __init__(self, *args: Any, live: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = reason_field(live)
