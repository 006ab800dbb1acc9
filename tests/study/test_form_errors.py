"""study.form_errors.apply_service_errors: a service's ValidationError onto the page's form
(issue 23: one adapter instead of one per view)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import translation

from study.form_errors import apply_service_errors
from study.models import Site


class VisitDateForm(forms.Form):
    visit_date = forms.DateField(label="Visit date")
    reason = forms.CharField(label="Reason", required=False)


class SiteNameForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["name", "code"]


def _valid(form: forms.BaseForm) -> forms.BaseForm:
    assert form.is_valid(), form.errors
    return form


def test_a_keyed_error_goes_beside_the_field_it_names():
    form = _valid(VisitDateForm({"visit_date": "2026-11-20", "reason": "typo"}))
    apply_service_errors(
        form,
        ValidationError(
            {
                "visit_date": [ValidationError("The visit date is before consent.", code="before_consent")],
                "reason": "Give a reason.",
            }
        ),
    )
    assert form.errors == {"visit_date": ["The visit date is before consent."], "reason": ["Give a reason."]}
    assert form.non_field_errors() == []
    assert form.errors.as_data()["visit_date"][0].code == "before_consent"
    # add_error takes the field out of the cleaned data, as a failed clean would
    assert "visit_date" not in form.cleaned_data


def test_an_unkeyed_error_and_all_go_on_top():
    form = _valid(VisitDateForm({"visit_date": "2026-11-20"}))
    apply_service_errors(form, ValidationError("This form is frozen.", code="frozen"))
    assert form.non_field_errors() == ["This form is frozen."]
    assert form.non_field_errors().as_data()[0].code == "frozen"

    form = _valid(VisitDateForm({"visit_date": "2026-11-20"}))
    apply_service_errors(form, ValidationError({NON_FIELD_ERRORS: ["The subject is locked.", "Ask a data manager."]}))
    assert form.non_field_errors() == ["The subject is locked.", "Ask a data manager."]
    assert list(form.errors) == [NON_FIELD_ERRORS]

    form = _valid(VisitDateForm({"visit_date": "2026-11-20"}))
    apply_service_errors(form, ValidationError(["One.", "Two."]))
    assert form.non_field_errors() == ["One.", "Two."]


def test_a_field_the_form_does_not_show_goes_on_top_with_its_label():
    # a plain form: the key made readable
    form = _valid(VisitDateForm({"visit_date": "2026-11-20"}))
    apply_service_errors(
        form,
        ValidationError(
            {
                "death_date": ValidationError(
                    "%(day)s is before the infusion.", params={"day": "2026-11-01"}, code="before_infusion"
                ),
                "visit_date": "Outside the window.",
            }
        ),
    )
    assert form.non_field_errors() == ["Death date: 2026-11-01 is before the infusion."]
    assert form.non_field_errors().as_data()[0].code == "before_infusion"
    assert form.errors["visit_date"] == ["Outside the window."]


def test_a_model_form_names_the_field_by_its_verbose_name_in_the_readers_language():
    form = _valid(SiteNameForm({"name": "Site A", "code": "01"}))
    apply_service_errors(form, ValidationError({"time_zone": "Unknown zone.", "name": "Taken."}))
    assert form.non_field_errors() == ["Time zone: Unknown zone."]
    assert form.errors["name"] == ["Taken."]

    with translation.override("zh-hans"):
        form = _valid(SiteNameForm({"name": "Site A", "code": "01"}))
        apply_service_errors(form, ValidationError({"time_zone": "Unknown zone."}))
        assert form.non_field_errors() == ["时区：Unknown zone."]
