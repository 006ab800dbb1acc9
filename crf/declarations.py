"""One declaration per case report form (issue 23), the way Django admin registers a `ModelAdmin`
per model: everything the form framework needs to know about a form besides its fields, in one
object next to the model (`<app>/declarations.py`, found at start-up like `admin.py`:
`autodiscover`).

    declare(
        VitalSigns,
        derive=derive.derive_vital_signs,             # its derived fields (crf.derivations)
        checks=(checks.temperature_implausible, …),    # its edit checks (crf.checks)
        dependants=(Dependants(through=services.rederive_fever_course, forms=(VitalSigns,)),),
        api_resource="vital-signs",                    # its REST resource (crf.api)
    )

The model keeps what the data *is* (`crf_code`, `crf_title`, `casebook_order`,
`clinical_date_field`, `missing_allowed`, `crf_versions`: its identity and shape, like `Meta`);
the declaration holds what the framework *does* with it. A concrete `CrfInstance` without a
declaration fails the system checks (`crf.E010`, run by `manage.py check`, runserver, migrate
and the test run). A record that is not a form but carries edit checks or starts a
re-derivation (a visit, a CRS episode, a reference range, the subject) may be declared too;
only its `checks` and `dependants` (drawn in the graph) mean anything there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core import checks as system_checks
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.utils.module_loading import autodiscover_modules

from crf.models import CrfInstance

if TYPE_CHECKING:
    from crf.checks import EditCheck

#: the form's derived fields from the instance (and the protocol settings in force on its date)
Derive = Callable[[Any], dict[str, Any]]
#: `(user=…, saved=…, previous=…)`, inside the save's transaction
SaveHook = Callable[..., None]
#: `(subject, pk or None, visit pk as typed) -> URL`
EntryPage = Callable[[Any, "int | None", str], str]


#: in `Dependants.forms`: every form with derived values (a study day…) re-derived form by form,
#: drawn in the graph as the forms declared so (day 0 moved: `subjects.services.treatment.reanchor_day0`)
EVERY_DERIVED_FORM = "(every derived form)"


@dataclass(frozen=True)
class Dependants:
    """Saving (or entering in error) the declared form re-derives `forms` by calling `through`.

    `on_save` (the default): `through(user=…, saved=…, previous=…)` runs after every save of the
    form, inside its transaction (`crf.services.save`, `mark_entered_in_error`), `previous`
    being the stored row before the write (None for a new form). `on_save=False`: the form's
    own save service (or the record's service) calls `through`; the edge is only drawn in the
    derivation graph (`manage.py show_derivations`). No `forms`: a hook that re-derives no
    stored form (a safety alert, the DLT candidates), listed as "(save hook)"."""

    through: Callable[..., Any]
    forms: tuple[type[Model] | str, ...] = ()
    on_save: bool = True


@dataclass(frozen=True)
class FormDeclaration:
    """Every per-form fact the form framework reads (issue 23). Defaults: a form entered on the
    generic form page, saved by `crf.services.save_form`, with no derived fields, checks,
    dependants or API resource."""

    model: type[Model]
    #: its derived fields (crf.derivations), recomputed on every save
    derive: Derive | None = None
    #: a new protocol settings version re-derives it (False: e.g. lab unit conversion)
    derived_from_protocol_settings: bool = True
    #: its derived values hang on the subject's other forms of its kind (a CRS or ICANS
    #: assessment in its course, CLINICAL_SPEC §1.3): when day 0 moves, the course's own service
    #: re-derives it (subjects.hooks.day0_moved), not the form-by-form re-derivation
    rederived_by_course: bool = False
    #: its edit checks, in the order they run (`crf.checks.edit_check`); the "procedure before
    #: consent" check is implied for a dated form (crf.consent_checks) unless listed here
    checks: tuple[EditCheck, ...] = ()
    #: the service that saves it when saving does more than `save_form` (a lifecycle step,
    #: re-anchoring visits); takes save_form's keyword arguments and calls save_form itself
    save_service: Callable[..., CrfInstance] | None = None
    #: what saving it re-derives, in the order the hooks run
    dependants: tuple[Dependants, ...] = ()
    #: the form class's base when its page needs more than the model gives (crf.forms.CrfFormBase
    #: subclass: widget attributes, a page script in `Media`)
    form_base: type | None = None
    #: the REST resource under /api/v1/ (DESIGN §6: plural, kebab-case); "" keeps it off the API
    api_resource: str = ""
    #: its own entry page instead of the generic form page (a lab panel)
    entry_page: EntryPage | None = None
    #: the casebook shows one entry per group of rows (a lab panel's collection)
    casebook_group: Callable[[Any], tuple[object, ...]] | None = None
    #: entered through the subject's lifecycle pages (consent, eligibility), not the form page
    lifecycle: bool = False
    #: saving it can move the subject (status, enrolment, day 0) and with it every visit's
    #: expected forms: the visits' state is re-derived for the whole casebook (issue 22)
    moves_subject: bool = False
    #: URL name of the page grading the form as it is typed (CRS, ICANS, GvHD)
    live_grade_url_name: str = ""

    @cached_property
    def edit_checks(self) -> tuple[EditCheck, ...]:
        """The declared checks, then the implied "procedure before consent" check."""
        # crf.consent_checks builds on crf.checks, which reads declarations: imported when first used.
        from crf import consent_checks

        return (*self.checks, *consent_checks.implied(self.model, self.checks))

    @property
    def save_hooks(self) -> list[SaveHook]:
        return [d.through for d in self.dependants if d.on_save]


_declared: dict[type[Model], FormDeclaration] = {}
#: what apps above a form's own app declared about it before the form itself was declared
#: (`extend`): (the extending module, its checks, its dependants), in the order declared
_pending: dict[type[Model], list[tuple[str, tuple[Any, ...], tuple[Dependants, ...]]]] = {}


def declare(model: type[Model], **facts: Any) -> FormDeclaration:
    """Declare one form (or record); called once per model from its app's `declarations.py`."""
    if model in _declared:
        raise ImproperlyConfigured(f"{model._meta.label} is declared twice")
    declaration = _checked(FormDeclaration(model=model, **facts))
    for _module, checks, dependants in _pending.pop(model, []):
        declaration = _extended(declaration, checks, dependants)
    _declared[model] = declaration
    return declaration


def extend(model: type[Model], *, checks: tuple[EditCheck, ...] = (), dependants: tuple[Dependants, ...] = ()) -> None:
    """Declare, from an app *above* the form's own, what that app derives from the form or checks
    on it (issue 23: imports run down the layers, so the lower app cannot name the higher one's
    services). The DLT candidates, ICAHT and the CRS course are re-derived when a lab result, an
    infusion or a death changes: adverse_events/declarations.py says so with
    `extend(LabResult, dependants=(…))`. The form's declaration then holds its own checks and
    dependants first, then the extensions in the order the apps declared them; it is still one
    object (`declaration_for`, the derivation graph). An extension of a form nobody declares
    fails the start-up check `crf.E011`."""
    entry = (_caller(), tuple(checks), tuple(dependants))
    if model in _declared:
        _declared[model] = _extended(_declared[model], entry[1], entry[2])
    else:
        _pending.setdefault(model, []).append(entry)


def _extended(
    declaration: FormDeclaration, checks: tuple[Any, ...], dependants: tuple[Dependants, ...]
) -> FormDeclaration:
    return _checked(
        replace(declaration, checks=(*declaration.checks, *checks), dependants=(*declaration.dependants, *dependants))
    )


def _checked(declaration: FormDeclaration) -> FormDeclaration:
    rules = [(check.code, check.field) for check in declaration.checks]
    if len(set(rules)) != len(rules):
        raise ImproperlyConfigured(f"{declaration.model._meta.label} lists an edit check twice on one field")
    return declaration


def _caller() -> str:
    """The module calling `extend` (named by the start-up check when its form is never declared)."""
    return str(sys._getframe(2).f_globals.get("__name__", "?"))


def declaration_for(model: type[Model]) -> FormDeclaration:
    """The declaration of `model`. A form without one is a configuration error (LookupError;
    the system check `crf.E010` reports it at start-up); a record that is not a form and was not
    declared has none of the per-form facts (no checks, no dependants)."""
    try:
        return _declared[model]
    except KeyError:
        if is_form(model):
            raise LookupError(f"{model._meta.label} has no form declaration (crf.declarations.declare)") from None
        return FormDeclaration(model=model)


def declarations() -> Iterator[FormDeclaration]:
    return iter(list(_declared.values()))


def is_form(model: type[Model]) -> bool:
    return issubclass(model, CrfInstance) and not model._meta.abstract


def autodiscover() -> None:
    """Import every installed app's `declarations` module, as the admin imports `admin.py`: once,
    at start-up, from CrfConfig.ready."""
    autodiscover_modules("declarations")


@system_checks.register()
def system_check(app_configs: Any = None, **kwargs: Any) -> list[system_checks.CheckMessage]:
    """Every concrete case report form has a declaration (issue 23: no silent fallback)."""
    errors: list[system_checks.CheckMessage] = []
    models = apps.get_models() if app_configs is None else [m for c in app_configs for m in c.get_models()]
    for model in models:
        if is_form(model) and model not in _declared:
            errors.append(
                system_checks.Error(
                    f"{model._meta.label} is a case report form without a declaration.",
                    hint=f"Add declare({model.__name__}, …) to {model._meta.app_label}/declarations.py "
                    "(crf.declarations; docs/architecture.md, Where to add a form).",
                    obj=model,
                    id="crf.E010",
                )
            )
    for model, entries in _pending.items():
        if app_configs is not None and model not in models:
            continue
        for module, _checks, _dependants in entries:
            errors.append(
                system_checks.Error(
                    f"{module} extends {model._meta.label}, which has no declaration.",
                    hint=f"Declare {model.__name__} in {model._meta.app_label}/declarations.py "
                    "(crf.declarations.declare).",
                    obj=model,
                    id="crf.E011",
                )
            )
    return errors
