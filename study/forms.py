from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from study.models import LANGUAGE_CHOICES, Site, User
from study.roles import Role


class InviteUserForm(forms.Form):
    username = forms.SlugField(label=_("Username"), max_length=150)
    email = forms.EmailField(label=_("E-mail"))
    first_name = forms.CharField(label=_("Given name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Family name"), max_length=150, required=False)
    printed_name = forms.CharField(label=_("Printed name"), max_length=150, help_text=_("As shown on e-signatures."))
    language = forms.ChoiceField(
        label=_("Language"), choices=[("", _("Site default")), *LANGUAGE_CHOICES], required=False
    )
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

    def __init__(self, *args, sites, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is taken."))
        return username


class GrantRoleForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

    def __init__(self, *args, sites, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES)
