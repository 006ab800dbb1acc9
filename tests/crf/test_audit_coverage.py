"""Every clinical table is audited (insert, update, delete) and every form refuses hard deletes
(DESIGN §4 "Audit trail", "No hard deletes"). A new model that forgets either fails here."""

from __future__ import annotations

import pghistory.models
import pytest
from django.apps import apps
from django.db import connection

from crf.registry import crf_models

pytestmark = pytest.mark.req("ISSUE-3")

CLINICAL_APPS = {"study", "subjects", "crf", "labs", "adverse_events", "response", "survival", "endpoints", "exports"}
#: Operational tables, not clinical data: their own lifecycle is the record.
NOT_AUDITED = {
    "crf.outboxmessage",
    "crf.taskexecution",
    "crf.importupload",  # a file between preview and confirmation, deleted once imported
    "crf.auditchainlink",  # the hash chain over the history rows: itself the tamper evidence
    "crf.auditchainhead",  # the chain's current head per event table
    "crf.auditverification",  # results of verify_audit, append-only records of a check
    "crf.idempotentrequest",  # the first answer to a create, kept a day for retries; the record is audited
    "crf.formdraft",  # unsaved typing of one user, deleted on save; the saved form is audited
    "study.rederivation",
    "subjects.sitesequence",  # a counter; the numbers it hands out are audited on Subject
}


def _tracked_models() -> set[str]:
    tracked = set()
    for model in apps.get_models():
        if issubclass(model, pghistory.models.Event) and getattr(model, "pgh_tracked_model", None):
            tracked.add(model.pgh_tracked_model._meta.label_lower)
    return tracked


def _triggers(table: str) -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table])
        return {row[0] for row in cur.fetchall()}


def test_every_clinical_model_has_insert_update_and_delete_history(db):
    tracked = _tracked_models()
    missing = []
    for model in apps.get_models():
        label = model._meta.label_lower
        if model._meta.app_label not in CLINICAL_APPS or label in NOT_AUDITED:
            continue
        if issubclass(model, pghistory.models.Event):
            continue
        if label not in tracked:
            missing.append(label)
            continue
        names = _triggers(model._meta.db_table)
        for op in ("insert_insert", "update_update", "delete_delete"):
            if not any(name.startswith(f"pgtrigger_{op}") for name in names):
                missing.append(f"{label}:{op}")
    assert missing == []


def test_every_form_refuses_hard_delete(db):
    forms = crf_models()
    assert "VS" in forms
    for code, model in forms.items():
        names = _triggers(model._meta.db_table)
        assert any(name.startswith("pgtrigger_no_hard_delete") for name in names), code
