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


class NamesForm(forms.Form):
    """The names page (study.names): an English and a Chinese name per row, and the reason for
    the change (required once the study is live, checked by `study.names.save_names`)."""

    def __init__(self, *args, rows, live: bool, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            model = type(row.obj)
            english = model._meta.get_field(row.english_field)
            chinese = model._meta.get_field(row.chinese_field)
            self.fields[f"{row.key}-en"] = forms.CharField(
                label=_("%(code)s, English") % {"code": row.code},
                max_length=english.max_length,
                initial=row.english,
            )
            self.fields[f"{row.key}-zh"] = forms.CharField(
                label=_("%(code)s, Chinese") % {"code": row.code},
                max_length=chinese.max_length,
                initial=row.chinese,
                required=row.chinese_required,
            )
        self.fields["reason"] = forms.CharField(
            label=_("Reason for change"),
            max_length=300,
            required=live,
            help_text=_("Required once subjects are registered in the study."),
        )

    def names(self) -> dict[str, tuple[str, str]]:
        return {row.key: (self.cleaned_data[f"{row.key}-en"], self.cleaned_data[f"{row.key}-zh"]) for row in self.rows}

    def sections(self) -> list[tuple[str, list[tuple[object, object, object]]]]:
        """(heading, [(row, English field, Chinese field)]) per kind, in page order."""
        headings = {"study": _("Study"), "site": _("Sites"), "dose_level": _("Dose levels"), "visit": _("Visits")}
        out: dict[str, list[tuple[object, object, object]]] = {}
        for row in self.rows:
            out.setdefault(row.kind, []).append((row, self[f"{row.key}-en"], self[f"{row.key}-zh"]))
        return [(headings[kind], items) for kind, items in out.items()]
