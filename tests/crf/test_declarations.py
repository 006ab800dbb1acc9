"""One declaration per form (issue 23, crf.declarations): every case report form has exactly
one, the consumers read it, and a form without one fails the system checks at start-up
(`crf.E010`: `manage.py check`, runserver, migrate and the test run), not with a silent
fallback."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test.utils import isolate_apps
from django.urls import get_resolver

from crf import declarations
from crf.declarations import FormDeclaration, declaration_for, declare, system_check
from crf.models import CrfInstance
from crf.registry import crf_models
from labs.models import VitalSigns
from study.models import Site
from subjects.models import Visit

pytestmark = pytest.mark.req("ISSUE-23")


def test_every_form_has_its_declaration_and_the_check_passes():
    for model in crf_models().values():
        assert declaration_for(model).model is model
    assert system_check() == []


def test_a_form_whose_declaration_is_missing_fails_manage_py_check(monkeypatch):
    # the URLconf builds the API's routes from the declarations: loaded before one goes missing
    # (as in a running process), so what fails is the check, not the first import of the URLs
    get_resolver().url_patterns  # noqa: B018
    monkeypatch.delitem(declarations._declared, VitalSigns)
    with pytest.raises(SystemCheckError, match=r"crf\.E010.*labs\.VitalSigns is a case report form without"):
        call_command("check")
    with pytest.raises(LookupError, match=r"labs\.VitalSigns has no form declaration"):
        declaration_for(VitalSigns)


def _new_form_model() -> type[CrfInstance]:
    """A form model defined inside a test isolated with `isolate_apps("crf")`."""

    class EcogFollowUp(CrfInstance):
        crf_code = "ECOGFU"
        crf_title = "ECOG at follow-up"
        clinical_date_field = "assessment_date"
        assessment_date = models.DateField()

        class Meta:
            app_label = "crf"

    return EcogFollowUp


@isolate_apps("crf")
def test_a_new_form_model_without_a_declaration_fails_the_check():
    EcogFollowUp = _new_form_model()
    config = EcogFollowUp._meta.apps.get_app_config("crf")
    [error] = system_check(app_configs=[config])
    assert (error.id, error.obj) == ("crf.E010", EcogFollowUp)
    assert "crf/declarations.py" in error.hint
    try:
        declare(EcogFollowUp, api_resource="ecog-follow-ups")
        assert system_check(app_configs=[config]) == []
        with pytest.raises(ImproperlyConfigured, match="declared twice"):
            declare(EcogFollowUp)
    finally:
        del declarations._declared[EcogFollowUp]


def test_a_record_that_is_not_a_form_needs_no_declaration():
    assert declaration_for(Site) == FormDeclaration(model=Site)
    assert [check.code for check in declaration_for(Visit).edit_checks] == ["VISIT-OUT-OF-WINDOW"]


def test_the_facts_read_from_the_declarations():
    """What used to be model attributes and registries, read from the one object."""
    from labs.models import LabResult
    from subjects.models import InformedConsent, Infusion

    lab = declaration_for(LabResult)
    assert (lab.api_resource, lab.derived_from_protocol_settings) == ("lab-results", False)
    assert lab.entry_page is not None and lab.casebook_group is not None
    consent = declaration_for(InformedConsent)
    assert (consent.lifecycle, consent.moves_subject) == (True, True)
    infusion = declaration_for(Infusion)
    assert infusion.save_service is not None and infusion.derive is not None
    assert [c.code for c in infusion.edit_checks] == ["DOSE-OUT-OF-RANGE", "PROC-BEFORE-CONSENT"]
    vitals = declaration_for(VitalSigns)
    assert [c.code for c in vitals.edit_checks][-1] == "PROC-BEFORE-CONSENT"  # its own, not implied twice
    assert [c.code for c in vitals.edit_checks].count("PROC-BEFORE-CONSENT") == 1


def test_an_edit_check_listed_twice_on_one_field_is_refused():
    check = declaration_for(VitalSigns).checks[0]
    with pytest.raises(ImproperlyConfigured, match="twice"):
        declare(Site, checks=(check, check))
    assert Site not in declarations._declared


@isolate_apps("crf")
def test_an_app_above_extends_a_form_it_derives_from_before_or_after_its_declaration():
    """`extend` (issue 23): the app above declares what it derives from a lower form, which cannot
    name it. The form's one declaration holds its own dependants first, then the extensions."""

    EcogFollowUp = _new_form_model()

    def own(**kwargs): ...
    def first_above(**kwargs): ...
    def second_above(**kwargs): ...

    config = EcogFollowUp._meta.apps.get_app_config("crf")
    try:
        declarations.extend(EcogFollowUp, dependants=(declarations.Dependants(through=first_above),))
        # extended but never declared: the start-up check names the extending module
        errors = system_check(app_configs=[config])
        assert [(e.id, e.obj) for e in errors] == [("crf.E010", EcogFollowUp), ("crf.E011", EcogFollowUp)]
        assert errors[1].msg == f"{__name__} extends crf.EcogFollowUp, which has no declaration."
        declare(EcogFollowUp, dependants=(declarations.Dependants(through=own, forms=(EcogFollowUp,)),))
        declarations.extend(EcogFollowUp, dependants=(declarations.Dependants(through=second_above),))
        assert system_check(app_configs=[config]) == []
        assert declaration_for(EcogFollowUp).save_hooks == [own, first_above, second_above]
    finally:
        declarations._declared.pop(EcogFollowUp, None)
        declarations._pending.pop(EcogFollowUp, None)


def test_the_safety_app_extends_the_lower_forms_it_derives_from():
    """What adverse_events derives from labs, subjects, response and survival is part of their
    forms' declarations (and so of the save hooks and the derivation graph)."""
    from adverse_events import checks as safety_checks
    from adverse_events.services import ae_crs_icans as safety_services
    from adverse_events.services import dlt as dlt_services
    from adverse_events.services import icaht as icaht_services
    from labs import checks as lab_checks
    from labs import services as lab_services
    from labs.models import LabResult
    from survival import services as survival_services
    from survival.models import Death

    lab = declaration_for(LabResult)
    assert lab.checks == (lab_checks.lab_value_implausible, safety_checks.lab_grade_without_ae)
    assert lab.save_hooks == [dlt_services._inputs_changed, icaht_services._anc_changed]
    assert declaration_for(VitalSigns).save_hooks == [
        lab_services.rederive_fever_course,
        safety_services._copied_vitals_corrected,
    ]
    assert declaration_for(Death).save_hooks == [
        survival_services._death_entered_in_error,
        safety_services._death_changed,
        dlt_services._inputs_changed,
    ]
    assert declarations._pending == {}
