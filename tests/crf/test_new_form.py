"""The worked example of docs/architecture.md "Where to add a form" (issue 23, "Done when"): a new
case report form is its model and its declaration (and, when its page needs more than the
generic one, its template), nothing else. "ECOG at follow-up" is written here exactly as a form
in an app is, then shown to reach everything a form reaches: the registry and the schedule's
form names, the start-up check, the form page (its own template) with its derivation and edit
check, the casebook, the CSV import and the REST API.

The model is made for this test only (the test database is built from the migrations' schema
snapshot, trialsite.testdb): its table is created inside the test's transaction and rolled back
with it, and the model and its declaration are taken out of the registries afterwards."""

from __future__ import annotations

import copy
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator
from django.db import connection, models
from django.urls import include, path
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from crf import csvfiles, declarations
from crf.api import crf_resources, register_crf_resources
from crf.checks import edit_check
from crf.declarations import declare, system_check
from crf.forms import ImportUploadForm
from crf.imports import import_forms, template_csv
from crf.models import CrfInstance, Query
from crf.registry import crf_models, form_titles

pytestmark = pytest.mark.req("ISSUE-23")


def define_ecog_follow_up() -> type[CrfInstance]:
    """survival/models.py: the model says what the data is."""

    class EcogFollowUp(CrfInstance):
        crf_code = "ECOGFU"
        crf_title = "ECOG at follow-up"
        casebook_order = 63
        clinical_date_field = "assessment_date"

        assessment_date = models.DateField("assessment date")
        ecog = models.PositiveSmallIntegerField("ECOG performance status", validators=[MaxValueValidator(5)])
        poor_performance = models.BooleanField("ECOG 3 or worse", null=True, editable=False)

        class Meta:
            app_label = "survival"
            verbose_name = "ECOG at follow-up"

    return EcogFollowUp


@edit_check(code="ECOGFU-POOR", field="ecog", message="ECOG 3 or worse at follow-up: confirm it against the source.")
def poor_performance_at_follow_up(form: Any) -> bool:
    """survival/checks.py: an edit check is a function of the form."""
    return form.ecog is not None and form.ecog >= 3


def derive_ecog_follow_up(form: Any) -> dict[str, Any]:
    """survival/derive.py: the derived fields from the form."""
    return {"poor_performance": form.ecog >= 3}


@pytest.fixture
def ecog(_as_owner, db) -> Iterator[type[CrfInstance]]:
    """The form and its table, as the database owner (the application role creates no table)."""
    model = define_ecog_follow_up()
    try:
        # survival/declarations.py: the declaration says what the framework does with it.
        declare(
            model,
            derive=derive_ecog_follow_up,
            checks=(poor_performance_at_follow_up,),
            api_resource="ecog-follow-ups",
        )
        with connection.schema_editor() as editor:
            editor.create_model(model)
        yield model
    finally:
        declarations._declared.pop(model, None)
        del apps.all_models["survival"][model._meta.model_name]
        apps.clear_cache()
        ContentType.objects.clear_cache()


#: templates/survival/ecogfollowup_form.html: only when the page needs more than the generic one
TEMPLATE = """{% extends "crf/form.html" %}
{% block derived %}<p id="ecog-group">ECOG 3 or worse: {{ instance.poor_performance|yesno }}</p>{% endblock derived %}
"""


@pytest.fixture
def its_template(settings, tmp_path) -> None:
    (tmp_path / "survival").mkdir()
    (tmp_path / "survival" / "ecogfollowup_form.html").write_text(TEMPLATE)
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
    settings.TEMPLATES = templates


@pytest.fixture
def api_with_the_new_form(settings, monkeypatch) -> None:
    """The REST resources are routed when the URLs load: route them again, the new form's too."""
    router = DefaultRouter()
    register_crf_resources(router)
    urls = types.ModuleType("tests_crf_new_form_urls")
    urls.urlpatterns = [path("api/v1/", include(router.urls)), path("", include("trialsite.urls"))]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, urls.__name__, urls)
    settings.ROOT_URLCONF = urls.__name__


def test_a_new_form_is_its_model_and_its_declaration(
    ecog, its_template, crf_ready, users_a, login, client, api_with_the_new_form
):
    coordinator = users_a["coordinator"]
    # The registry, the schedule's form names, and the start-up check.
    assert crf_models()["ECOGFU"] is ecog
    assert form_titles()["ECOGFU"] == "ECOG at follow-up"
    assert system_check() == []

    # The generic form page: entered, derived, checked.
    login(coordinator)
    page = client.get(f"/subjects/{crf_ready.pk}/forms/ECOGFU/new/")
    assert page.status_code == 200
    assert "ECOG performance status" in page.content.decode()
    saved = client.post(f"/subjects/{crf_ready.pk}/forms/ECOGFU/new/", {"assessment_date": "2026-03-02", "ecog": "3"})
    assert saved.status_code == 302, saved.context["form"].errors
    form = ecog.objects.get()
    assert form.poor_performance is True
    query = Query.objects.get(content_type=ContentType.objects.get_for_model(ecog), object_id=form.pk)
    assert (query.rule_code, query.field_name) == ("ECOGFU-POOR", "ecog")
    edit_page = client.get(saved.url).content.decode()
    assert '<p id="ecog-group">ECOG 3 or worse: yes</p>' in edit_page  # its own template

    # The casebook lists it.
    casebook = client.get(f"/subjects/{crf_ready.pk}/casebook/")
    assert casebook.status_code == 200
    assert "ECOG at follow-up" in casebook.content.decode()

    # The CSV import offers it, with its template, and imports its rows through the same save.
    assert "ECOGFU" in dict(ImportUploadForm().fields["crf_code"].choices)
    assert template_csv(ecog).decode("utf-8-sig").splitlines()[0].startswith("subject,")
    csv_file = csvfiles.read_csv(b"subject,assessment_date,ecog\nA-001,2026-03-09,1\n", file_name="ecog.csv")
    result = import_forms(user=coordinator, model=ecog, csv_file=csv_file, channel="command")
    assert result.outcome == "imported", result.errors
    assert ecog.objects.get(assessment_date="2026-03-09").poor_performance is False

    # The REST API serves it.
    assert crf_resources()["ecog-follow-ups"] is ecog
    api = APIClient()
    api.force_authenticate(coordinator)
    listed = api.get("/api/v1/ecog-follow-ups/", {"subject": crf_ready.pk})
    assert listed.status_code == 200, listed.content[:300]
    assert {row["ecog"] for row in listed.json()["results"]} == {3, 1}
