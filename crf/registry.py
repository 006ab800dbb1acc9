"""The concrete case report forms, by their CRF code."""

from __future__ import annotations

from django.apps import apps

from crf.models import CrfInstance


def crf_models() -> dict[str, type[CrfInstance]]:
    found: dict[str, type[CrfInstance]] = {}
    for model in apps.get_models():
        if issubclass(model, CrfInstance) and model.crf_code:
            found[model.crf_code] = model
    return found


def crf_model(code: str) -> type[CrfInstance] | None:
    return crf_models().get(code)


def form_titles() -> dict[str, str]:
    """study.hooks.form_titles: every form's title by its CRF code (the forms a visit of the
    schedule may expect)."""
    return {code: str(model.crf_title) for code, model in crf_models().items()}
