"""Roles and the permission table of DESIGN §4a, as data.

This module is the one place that says which role may do what. Views, APIs and exports ask
`study.access` (which reads this table); tests take their expectations from DESIGN §4a itself.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Research coordinator")
    INVESTIGATOR = "investigator", _("Investigator")
    MONITOR = "monitor", _("Monitor")
    DATA_MANAGER = "data_manager", _("Data manager")
    STATISTICIAN = "statistician", _("Statistician")
    STUDY_ADMIN = "study_admin", _("Study administrator")


class Action(StrEnum):
    VIEW_CRF = "view_crf"
    VIEW_IDENTITY = "view_identity"
    EDIT_CRF = "edit_crf"  # create/edit CRF data, answer queries
    MANAGE_QUERIES = "manage_queries"  # raise / close / re-open / cancel queries
    MARK_SDV = "mark_sdv"
    ADJUDICATE = "adjudicate"
    SIGN = "sign"  # sign; mark an SAE reported to the sponsor
    FREEZE_LOCK = "freeze_lock"
    VIEW_SAFETY = "view_safety"
    VIEW_ENDPOINT_RESULTS = "view_endpoint_results"
    START_ENDPOINT_RUNS = "start_endpoint_runs"  # and de-identified exports
    VIEW_HISTORY = "view_history"
    AUDIT_SEARCH = "audit_search"
    CASEBOOK_PDF = "casebook_pdf"  # generate / download PDF casebooks, the study archive, blank and annotated CRF
    ADMINISTER = "administer"  # settings, schedule, dose levels, sites, users and roles


_C, _I, _M, _D, _S, _A = (
    Role.COORDINATOR,
    Role.INVESTIGATOR,
    Role.MONITOR,
    Role.DATA_MANAGER,
    Role.STATISTICIAN,
    Role.STUDY_ADMIN,
)

#: DESIGN §4a, row by row. Anything not listed is refused.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_CRF: frozenset({_C, _I, _M, _D}),
    Action.VIEW_IDENTITY: frozenset({_C, _I, _M}),
    Action.EDIT_CRF: frozenset({_C, _I}),
    Action.MANAGE_QUERIES: frozenset({_M, _D}),
    Action.MARK_SDV: frozenset({_M}),
    Action.ADJUDICATE: frozenset({_I}),
    Action.SIGN: frozenset({_I}),
    Action.FREEZE_LOCK: frozenset({_D}),
    Action.VIEW_SAFETY: frozenset({_C, _I, _M, _D, _S}),
    Action.VIEW_ENDPOINT_RESULTS: frozenset({_I, _D, _S, _A}),
    Action.START_ENDPOINT_RUNS: frozenset({_D, _S, _A}),
    Action.VIEW_HISTORY: frozenset({_C, _I, _M, _D, _A}),
    Action.AUDIT_SEARCH: frozenset({_M, _D, _A}),
    #: issue 26 item 2: data managers and study admins at their sites, investigators at their own
    Action.CASEBOOK_PDF: frozenset({_I, _D, _A}),
    Action.ADMINISTER: frozenset({_A}),
}


def role_may(role: str, action: Action) -> bool:
    return role in PERMISSIONS[action]
