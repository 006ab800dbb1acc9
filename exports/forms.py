from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from exports.models import ExportFormat
from study.widgets import DateInput, DateTimeLocalInput


class ExportRequestForm(forms.Form):
    cutoff_date = forms.DateField(
        label=_("Clinical cut-off date"),
        widget=DateInput(),
        help_text=_("Only records dated on or before it are exported."),
    )
    snapshot_at = forms.DateTimeField(
        label=_("Snapshot time"),
        required=False,
        widget=DateTimeLocalInput(),
        help_text=_(
            "The data as they stood at this time (your time zone), rebuilt from the audit trail. "
            "Empty: the moment the export starts."
        ),
    )
    datasets = forms.MultipleChoiceField(label=_("Datasets"), widget=forms.CheckboxSelectMultiple, choices=())
    formats = forms.MultipleChoiceField(
        label=_("Formats"),
        widget=forms.CheckboxSelectMultiple,
        choices=ExportFormat.choices,
        initial=[ExportFormat.CSV, ExportFormat.XPT],
    )

    def __init__(self, *args, dataset_choices: list[tuple[str, str]], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["datasets"].choices = dataset_choices
        self.fields["datasets"].initial = [name for name, _label in dataset_choices]
