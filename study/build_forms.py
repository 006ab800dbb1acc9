"""Forms of the study build pages (issue 27 item 1): sites. Each carries the reason for change,
required once subjects are registered in the study (checked again by the service)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from study.build import COUNTRIES, time_zones
from study.models import LANGUAGE_CHOICES, Site


def reason_field(live: bool) -> forms.CharField:
    return forms.CharField(
        label=_("Reason for change"),
        max_length=300,
        required=live,
        help_text=_("Required once subjects are registered in the study."),
    )


class DateInput(forms.DateInput):
    input_type = "date"


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
