"""Form bases of the safety CRFs (crf.forms.register_form_base): the CTCAE term picker, the
vasopressor and "other cause" lists as checkboxes, and the episode forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse_lazy
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from adverse_events.grade_course import GradeCourseField
from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, IcansDomainChoice, Vasopressor
from adverse_events.toxicities import GvhdStaging, IecHsAssessment, IecHsTreatment, Infection
from crf.forms import CrfFormBase, form_base


class TermPickerInput(forms.TextInput):
    """A text box that searches CTCAE v5.0 terms on the server as the user types (by term, SOC
    or MedDRA code) and offers them as a keyboard-usable list (static/js/term_picker.js)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={
                "data-term-picker": reverse_lazy("adverse_events:ctcae_terms"),
                "autocomplete": "off",
                "role": "combobox",
                "aria-autocomplete": "list",
                "aria-expanded": "false",
                **(attrs or {}),
            }
        )


@form_base(AdverseEvent)
class AdverseEventFormBase(CrfFormBase):
    class Media:
        js = ["js/term_picker.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ctcae_term"].widget = TermPickerInput()
        self.fields["grade"].widget = forms.NumberInput(attrs={"min": 1, "max": 5})
        if "grade_course" in self.fields:  # the dated course of the grade (issue 30)
            model_field = self.fields["grade_course"]
            self.fields["grade_course"] = GradeCourseField(
                label=model_field.label, help_text=model_field.help_text, required=False
            )
            self.fields["grade"].required = False
            self.fields["grade"].help_text = _("The highest grade; filled from the course when you give one.")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        course = cleaned.get("grade_course") or []
        grades = [entry["grade"] for entry in course]
        if grades:
            cleaned["grade"] = max(grades)
        elif cleaned.get("grade") in (None, "") and "grade" not in self.errors:
            self.add_error("grade", _("Give the grade, or the course of the grade."))
        return cleaned


class LiveGradeMedia:
    js = ["django_htmx/htmx-2.min.js"]


@form_base(CrsAssessment)
class CrsAssessmentFormBase(CrfFormBase):
    vasopressors = forms.MultipleChoiceField(
        label=capfirst(_("vasopressors in use")),
        choices=Vasopressor.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Tick every agent in use: several non-vasopressin agents are grade 4."),
    )
    Media = LiveGradeMedia


@form_base(IcansAssessment)
class IcansAssessmentFormBase(CrfFormBase):
    other_cause = forms.MultipleChoiceField(
        label=capfirst(_("findings attributable to another cause")),
        choices=IcansDomainChoice.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("E.g. consciousness depressed by sedating drugs: those domains do not count."),
    )
    Media = LiveGradeMedia


class SourceGradeForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    source_grade = forms.IntegerField(label=capfirst(_("grade in source")), min_value=1, max_value=5, required=False)
    reason = forms.CharField(label=_("Reason for change"), max_length=300, required=False)


class AdjudicationForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    grade = forms.IntegerField(label=capfirst(_("adjudicated grade")), min_value=1, max_value=5)
    reason = forms.CharField(label=capfirst(_("reason for the adjudicated grade")), max_length=300)


# --- cell-therapy toxicity forms (CLINICAL_SPEC §4) ---------------------------------------------


@form_base(GvhdStaging)
class GvhdStagingFormBase(CrfFormBase):
    """MAGIC staging with the organ stages and overall grade shown live (§4.3)."""

    Media = LiveGradeMedia


@form_base(IecHsAssessment)
class IecHsFormBase(CrfFormBase):
    treatments = forms.MultipleChoiceField(
        label=capfirst(_("treatments")),
        choices=IecHsTreatment.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


@form_base(Infection)
class InfectionFormBase(CrfFormBase):
    class Media:
        js = ["js/term_picker.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ctcae_term"].widget = TermPickerInput()
        self.fields["grade"].widget = forms.NumberInput(attrs={"min": 1, "max": 5})
