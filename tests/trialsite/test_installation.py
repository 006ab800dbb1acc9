"""Installation qualification (issue 32 §3): `check_installation` passes on a correctly set-up
database and fails, naming the cause, when an audit trigger is dropped or disabled or the
application role gains a privilege on history. Each tampering runs as the database owner inside
the test's transaction, so it is rolled back afterwards."""

from __future__ import annotations

import io

import pgtrigger
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from crf import dbroles
from labs.models import VitalSigns
from trialsite.installation import FAIL, PASS, check_app_role, check_audit_triggers, pinned_requirements, run_checks

pytestmark = pytest.mark.req("ISSUE-32")


def _vitals_trigger() -> str:
    names = [trigger.get_pgid(model) for model, trigger in pgtrigger.registered() if model is VitalSigns]
    assert names, "vital signs carry pghistory triggers"
    return sorted(names)[0]


@pytest.mark.django_db
def test_passes_on_the_test_database(settings, tmp_path):
    settings.AUDIT_HEADS_DIR = str(tmp_path)  # no heads recorded yet: the chains alone are checked
    out = io.StringIO()
    call_command("check_installation", stdout=out)
    text = out.getvalue()
    assert "result: PASS" in text
    for name in (
        "python",
        "packages",
        "database",
        "migrations",
        "audit triggers",
        "application role",
        "audit chain",
        "time",
    ):
        assert f"PASS  {name}:" in text
    # the suite's mail backend delivers nothing: reported, not failed
    assert "WARN  e-mail:" in text


def test_pins_follow_includes(tmp_path):
    (tmp_path / "base.txt").write_text("Django==5.2.19  # web\ncelery[redis]==5.7.0\n# comment\n")
    (tmp_path / "top.txt").write_text("-r base.txt\npytest==9.2.0\n")
    assert list(pinned_requirements(tmp_path / "top.txt")) == [
        ("Django", "5.2.19"),
        ("celery", "5.7.0"),
        ("pytest", "9.2.0"),
    ]


class _Rollback(Exception):
    pass


@pytest.fixture
def owner_transaction(transactional_db):
    """A transaction as the database owner, rolled back at the end (DDL included)."""
    with pytest.raises(_Rollback), transaction.atomic():
        yield connection
        raise _Rollback


def test_dropped_history_trigger_fails_naming_it(owner_transaction):
    name = _vitals_trigger()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {name} ON labs_vitalsigns")
    result = check_audit_triggers()
    assert result.status == FAIL
    assert f"{name} on labs_vitalsigns: uninstalled" in result.detail
    with pytest.raises(CommandError, match="audit triggers"):
        call_command("check_installation", stdout=io.StringIO())


def test_disabled_history_trigger_fails(owner_transaction):
    name = _vitals_trigger()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE labs_vitalsigns DISABLE TRIGGER {name}")
    result = check_audit_triggers()
    assert result.status == FAIL
    assert f"{name} on labs_vitalsigns: disabled" in result.detail


def test_missing_append_only_trigger_fails(owner_transaction):
    table = dbroles.history_tables()[0]
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER trialsite_append_only_row ON "{table}"')
    result = check_audit_triggers()
    assert result.status == FAIL
    assert f"trialsite_append_only_row on {table}: missing" in result.detail


def test_app_role_with_update_on_history_fails(owner_transaction):
    role = dbroles.app_role()
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT UPDATE, INSERT ON labs_vitalsignsevent TO {role}")
        cursor.execute(f"GRANT TEMPORARY ON DATABASE {connection.settings_dict['NAME']} TO {role}")
    result = check_app_role()
    assert result.status == FAIL
    assert f"{role} has UPDATE on labs_vitalsignsevent" in result.detail
    assert f"{role} has INSERT on labs_vitalsignsevent" in result.detail
    assert f"{role} may create temporary tables" in result.detail


def test_a_check_that_raises_is_a_failure_with_its_cause():
    def check_broken():
        raise RuntimeError("no route to the database")

    (result,) = run_checks([check_broken])
    assert (result.name, result.status) == ("broken", FAIL)
    assert "RuntimeError: no route to the database" in result.detail
    assert result.status != PASS


def test_a_history_row_changed_by_the_owner_breaks_the_chain(owner_transaction, study, settings, tmp_path):
    settings.AUDIT_HEADS_DIR = str(tmp_path)
    from trialsite.installation import check_audit_chain

    assert check_audit_chain().status == PASS
    with connection.cursor() as cursor:
        cursor.execute("UPDATE study_studyevent SET title = 'rewritten' WHERE code = %s", [study.code])
        assert cursor.rowcount >= 1
    result = check_audit_chain()
    assert result.status == FAIL
    assert "study_studyevent" in result.detail
