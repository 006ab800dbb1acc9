"""Small forms of the data-management pages: query steps, SDV plan, freezes and locks."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crf.models import DataLock, QueryStatus


class RaiseQueryForm(forms.Form):
    field_name = forms.ChoiceField(label=_("Field"))
    text = forms.CharField(label=_("Query text"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, fields: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field_name"].choices = fields


class QueryStepForm(forms.Form):
    """One text box: the reason for confirming, the closing note, the reason for re-opening or
    cancelling. Whether it is required is the service's decision."""

    text = forms.CharField(label=_("Text"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class QueryFilterForm(forms.Form):
    site = forms.ChoiceField(label=_("Site"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any")), ("active", _("Open or answered")), *QueryStatus.choices],
    )
    form = forms.ChoiceField(label=_("Form"), required=False)
    origin = forms.ChoiceField(label=_("Raised by"), required=False)
    min_days = forms.IntegerField(label=_("Open at least (days)"), required=False, min_value=0, max_value=10000)

    def __init__(
        self,
        *args: Any,
        sites: list[tuple[str, str]],
        forms_: list[tuple[str, str]],
        raisers: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [("", _("Any")), *sites]
        self.fields["form"].choices = [("", _("Any")), *forms_]
        self.fields["origin"].choices = [
            ("", _("Anyone")),
            ("automatic", _("Automatic (edit check)")),
            ("manual", _("Manual (any monitor or data manager)")),
            *raisers,
        ]


class SdvPlanForm(forms.Form):
    full_forms = forms.MultipleChoiceField(
        label=_("Forms verified in full (100%)"), required=False, widget=forms.CheckboxSelectMultiple
    )
    sample_percent = forms.IntegerField(label=_("Sample of the other forms (%)"), min_value=0, max_value=100)
    seed = forms.IntegerField(
        label=_("Sample seed"),
        min_value=0,
        max_value=2_147_483_647,
        help_text=_("The same seed always selects the same forms; it is recorded with the plan."),
    )
    reason = forms.CharField(label=_("Reason for change"), max_length=300)

    def __init__(self, *args: Any, codes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["full_forms"].choices = codes


class SetLockForm(forms.Form):
    kind = forms.ChoiceField(label=_("Freeze or lock"), choices=DataLock.Kind.choices)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class LiftLockForm(forms.Form):
    reason = forms.CharField(label=_("Reason for lifting"), max_length=300)
