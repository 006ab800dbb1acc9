"""The protocol versions page's forms (issue 27 item 2)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from study.amendments import SettingsItem


def _choices(items: list[SettingsItem]) -> list[tuple[str, str]]:
    return [
        (
            item.key,
            _("%(kind)s version %(version)s, effective from %(date)s")
            % {"kind": item.kind, "version": item.version, "date": item.effective_from.isoformat()},
        )
        for item in items
    ]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class ProtocolVersionForm(forms.Form):
    number = forms.CharField(label=_("Protocol version"), max_length=20, help_text=_("As on the protocol, e.g. 2.0."))
    protocol_date = forms.DateField(label=_("Protocol date"), widget=DateInput())
    approval_date = forms.DateField(
        label=_("Approval date"),
        widget=DateInput(),
        help_text=_("The ethics committee's approval: the version is in force from this date."),
    )
    summary = forms.CharField(label=_("Summary of changes"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4}))
    attach = forms.MultipleChoiceField(
        label=_("Settings versions that came in with it"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.CharField(label=_("Reason for change"), max_length=300)

    def __init__(self, *args: Any, items: list[SettingsItem], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["attach"].choices = _choices(items)


class AttachForm(forms.Form):
    """Group settings versions published later under an existing protocol version."""

    version = forms.TypedChoiceField(label=_("Protocol version"), coerce=int)
    attach = forms.MultipleChoiceField(label=_("Settings versions"), widget=forms.CheckboxSelectMultiple)
    reason = forms.CharField(label=_("Reason for change"), max_length=300)

    def __init__(self, *args: Any, items: list[SettingsItem], versions: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, prefix="attach", **kwargs)
        self.fields["attach"].choices = _choices(items)
        self.fields["version"].choices = [(v.pk, v.number) for v in versions]
