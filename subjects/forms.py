"""Forms of the subject pages: the identity record (DESIGN §4 "Identity record")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from subjects.models import IdentityRecord


class DateInput(forms.DateInput):
    """A typed date in every language: `<input type=date>` needs ISO values."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class IdentityRecordForm(forms.ModelForm):  # type: ignore[type-arg]
    reason = forms.CharField(
        label=_("Reason for change"),
        max_length=300,
        required=False,
        help_text=_("Required when you change an identity record that was already saved."),
    )

    class Meta:
        model = IdentityRecord
        fields = ["full_name", "date_of_birth", "hospital_number", "phone"]
        widgets = {"date_of_birth": DateInput()}
