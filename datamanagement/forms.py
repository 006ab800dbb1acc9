"""Page forms of data management (issue 26): signing and locking with the checklist."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from datamanagement.models import PdfKind, PdfLanguage, SignatureMeaning


class SignForm(forms.Form):
    meaning = forms.ChoiceField(label=_("Meaning of your signature"), choices=SignatureMeaning.choices)
    username = forms.CharField(label=_("User ID"), max_length=150, required=False)
    password = forms.CharField(label=_("Password"), max_length=256, strip=False, widget=forms.PasswordInput)

    def __init__(self, *args: Any, needs_id: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if needs_id:
            self.fields["username"].required = True
            self.fields["username"].widget.attrs["autocomplete"] = "username"
        else:
            del self.fields["username"]
        self.fields["password"].widget.attrs["autocomplete"] = "current-password"


class ChecklistLockForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)
    override_reason = forms.CharField(
        label=_("Reason for locking with items open"),
        max_length=300,
        required=False,
        help_text=_("Needed only while the checklist lists open items; recorded with the lock."),
    )


class PdfRequestForm(forms.Form):
    """The data-management page's request: the study archive, the blank or the annotated CRF
    (a subject's casebook is requested from the subject's casebook page, `CasebookPdfForm`)."""

    kind = forms.ChoiceField(
        label=_("Document"),
        choices=[(k, label) for k, label in PdfKind.choices if k != PdfKind.CASEBOOK],
        widget=forms.RadioSelect,
        initial=PdfKind.ARCHIVE,
    )
    language = forms.ChoiceField(label=_("Language"), choices=PdfLanguage.choices, initial=PdfLanguage.ENGLISH)


class CasebookPdfForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=PdfLanguage.choices, initial=PdfLanguage.ENGLISH)


def reader_pdf_language() -> str:
    """The PDF language offered first: the reader's page language."""
    return PdfLanguage.CHINESE if (get_language() or "").lower().startswith("zh") else PdfLanguage.ENGLISH
