from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from study.widgets import DateInput, DateTimeLocalInput


class RunRequestForm(forms.Form):
    cutoff_date = forms.DateField(
        label=_("Clinical cut-off date"),
        widget=DateInput(),
        help_text=_("Only events, assessments and contacts dated on or before it are used."),
    )
    snapshot_at = forms.DateTimeField(
        label=_("Snapshot time"),
        required=False,
        widget=DateTimeLocalInput(),
        help_text=_(
            "The data as they stood at this time (your time zone), rebuilt from the audit trail. "
            "Empty: the moment the run starts."
        ),
    )
    rederive_at_cutoff = forms.BooleanField(
        label=_("Sensitivity analysis: re-derive under the settings in force at the cut-off"),
        required=False,
        help_text=_(
            "Also compute every table with the derived grades and responses re-derived under the one protocol "
            "settings version in force at the cut-off date; its tables are shown beside the main ones."
        ),
    )
