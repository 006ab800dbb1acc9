"""Forms of the subject pages: the identity record (DESIGN §4 "Identity record")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from study.widgets import DateInput
from subjects.eligibility import CRITERIA
from subjects.lifecycle import Event, NotInfusedReason
from subjects.models import IdentityRecord


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


class ConsentForm(forms.Form):
    """A new subject: the signed consent (opens screening). `sites`: where the user may enter data."""

    site = forms.ModelChoiceField(label=_("Site"), queryset=None, empty_label=None)  # type: ignore[arg-type]
    consent_version = forms.CharField(label=_("Consent form version"), max_length=20)
    consent_date = forms.DateField(label=_("Consent date"), widget=DateInput())

    def __init__(self, *args: Any, sites: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]
        self.only_site = sites.first() if sites.count() == 1 else None
        if self.only_site is not None:
            del self.fields["site"]  # nothing to choose

    def chosen_site(self) -> Any:
        return self.only_site or self.cleaned_data["site"]


class ReconsentForm(forms.Form):
    consent_version = forms.CharField(label=_("New consent form version"), max_length=20)
    consent_date = forms.DateField(label=_("Consent date"), widget=DateInput())


YES_NO = [("yes", _("Yes")), ("no", _("No"))]


class EligibilityForm(forms.Form):
    """One yes/no answer per criterion (subjects.eligibility), the protocol version and the date."""

    protocol_version = forms.CharField(label=_("Protocol version"), max_length=20)
    assessment_date = forms.DateField(label=_("Assessment date"), widget=DateInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for criterion in CRITERIA:
            kind = _("Inclusion") if criterion.inclusion else _("Exclusion")
            self.fields[f"criterion_{criterion.code}"] = forms.ChoiceField(
                label=f"{kind} {criterion.code}: {criterion.text}", choices=YES_NO, widget=forms.RadioSelect
            )

    def criteria(self) -> dict[str, bool]:
        return {
            name.removeprefix("criterion_"): value == "yes"
            for name, value in self.cleaned_data.items()
            if name.startswith("criterion_")
        }


class EnrolForm(forms.Form):
    on = forms.DateField(label=_("Enrolment date"), widget=DateInput())
    dose_level = forms.ChoiceField(label=_("Dose level"))
    planned_infusion_date = forms.DateField(
        label=_("Planned infusion date"),
        widget=DateInput(),
        required=False,
        help_text=_("The visits from lymphodepletion on are planned from this date (day 0)."),
    )

    def __init__(self, *args: Any, dose_levels: list[tuple[str, str]], **kwargs: Any) -> None:
        """`dose_levels`: (code, name in the reader's language) of the levels in force."""
        super().__init__(*args, **kwargs)
        # no level pre-selected: a consequential answer starts empty and is required (issue 24)
        self.fields["dose_level"].choices = [("", "—"), *dose_levels]  # type: ignore[attr-defined]


class DoseLevelForm(EnrolForm):
    """Change of the assigned dose level: the new level and a reason (audited)."""

    reason = forms.CharField(label=_("Reason for the change"), max_length=300)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["on"]
        del self.fields["planned_infusion_date"]
        self.fields["dose_level"].label = _("New dose level")


class PlannedInfusionForm(forms.Form):
    planned_infusion_date = forms.DateField(label=_("Planned infusion date"), widget=DateInput())
    reason = forms.CharField(
        label=_("Reason for change"),
        max_length=300,
        required=False,
        help_text=_("Required when you move a planned date."),
    )


class VisitDateForm(forms.Form):
    visit_date = forms.DateField(label=_("Visit date"), widget=DateInput(), required=False)
    reason = forms.CharField(
        label=_("Reason for change"),
        max_length=300,
        required=False,
        help_text=_("Required when you change a visit date already recorded."),
    )


class StatusForm(forms.Form):
    """One lifecycle event: its date and, where the event needs them, its details."""

    on = forms.DateField(label=_("Date"), widget=DateInput())
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)
    not_infused_reason = forms.ChoiceField(
        label=_("Reason not infused"), choices=[("", "—"), *NotInfusedReason.choices]
    )
    survival_follow_up = forms.ChoiceField(
        label=_("Does survival follow-up continue?"), choices=YES_NO, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, event: Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if event != Event.NOT_INFUSED:
            del self.fields["not_infused_reason"]
        if event != Event.WITHDRAW:
            del self.fields["survival_follow_up"]
        if event in (Event.FAIL_SCREENING, Event.WITHDRAW):
            self.fields["reason"].required = True
        elif event == Event.NOT_INFUSED:
            self.fields["reason"].label = _("Details (optional)")
        else:
            del self.fields["reason"]

    def details(self) -> dict[str, Any]:
        data = self.cleaned_data
        found: dict[str, Any] = {"reason": data.get("reason", "")}
        if "not_infused_reason" in data:
            found["not_infused_reason"] = data["not_infused_reason"]
        if "survival_follow_up" in data:
            found["survival_follow_up"] = data["survival_follow_up"] == "yes"
        return found


class UndoStatusForm(forms.Form):
    """Undo a status recorded in error (issue 24 item 2): why, audited with the change."""

    reason = forms.CharField(label=_("Why the status was recorded in error"), max_length=300)


class StatusDateForm(forms.Form):
    """Correction of the current status's date (issue 24 item 2): the right date and why."""

    on = forms.DateField(label=_("Correct date"), widget=DateInput())
    reason = forms.CharField(label=_("Reason for the correction"), max_length=300)
