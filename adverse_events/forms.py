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


#: Oxygen support from the vital-signs list, lowest to highest, as the CRS form's device
#: (CLINICAL_SPEC §1.1: high-flow nasal cannula is a nasal cannula above 6 L/min for ASTCT).
VITALS_OXYGEN_TO_CRS = {
    "room_air": (0, "room_air"),
    "blow_by": (1, "blow_by"),
    "nasal_cannula": (2, "nasal_cannula"),
    "hfnc": (3, "nasal_cannula"),
    "facemask": (3, "facemask"),
    "venturi": (3, "venturi_mask"),
    "non_rebreather": (3, "non_rebreather"),
    "cpap": (4, "cpap"),
    "bipap": (4, "bipap"),
    "mechanical": (5, "mechanical_ventilation"),
}


def vitals_prefill(subject: Any, on: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """What a new CRS assessment copies from that day's vital signs (issue 24 item 4): the
    highest temperature, hypotension when the lowest systolic pressure was hypotensive, and the
    highest oxygen support with its flow; with, per field, where each value came from."""
    from labs.models import VitalSigns

    rows = list(
        VitalSigns.objects.filter(subject=subject, assessment_date=on, entered_in_error=False).order_by(
            "assessment_time", "pk"
        )
    )
    initial: dict[str, Any] = {}
    sources: dict[str, str] = {}

    zone = subject.site.time_zone

    def at(row: Any) -> str:
        if row.assessment_time is None:
            return str(_("time not recorded"))
        return f"{row.assessment_time.strftime('%H:%M')} ({zone})"

    hot = [r for r in rows if r.temperature_c is not None]
    if hot:
        top = max(hot, key=lambda r: r.temperature_c)
        initial["tmax_c"] = top.temperature_c
        sources["tmax_c"] = _("From vital signs: %(value)s °C at %(time)s.") % {
            "value": top.temperature_c,
            "time": at(top),
        }
    pressures = [r for r in rows if r.systolic_bp is not None]
    if pressures:
        low = min(pressures, key=lambda r: r.systolic_bp)
        initial["hypotension"] = bool(low.hypotension)
        sources["hypotension"] = _("From vital signs: lowest systolic pressure %(value)s mmHg at %(time)s.") % {
            "value": low.systolic_bp,
            "time": at(low),
        }
    if rows:
        best = max(
            rows, key=lambda r: (VITALS_OXYGEN_TO_CRS.get(r.oxygen_device, (0, ""))[0], r.oxygen_flow_l_min or 0)
        )
        device = VITALS_OXYGEN_TO_CRS.get(best.oxygen_device)
        if device is not None:
            initial["oxygen_device"] = device[1]
            initial["oxygen_flow_l_min"] = best.oxygen_flow_l_min
            sources["oxygen_device"] = _("From vital signs: %(device)s at %(time)s.") % {
                "device": best.get_oxygen_device_display(),
                "time": at(best),
            }
    return initial, sources


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        visit = instance.visit
        on = (visit.visit_date or visit.planned_date) if visit is not None else None
        if self.is_bound or instance.pk is not None or on is None:
            return
        # a new assessment entered at a visit starts from that day's vital signs (a copy, editable)
        initial, sources = vitals_prefill(instance.subject, on)
        self.initial["assessment_date"] = self.initial.get("assessment_date") or on
        self.initial.update(initial)
        for name, text in sources.items():
            field = self.fields.get(name)
            if field is not None:
                field.help_text = f"{field.help_text} {text}".strip()


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # its own ids beside the source-grade form on the episode page (one id_reason, issue 24)
        kwargs.setdefault("auto_id", "adjudication_%s")
        super().__init__(*args, **kwargs)


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
