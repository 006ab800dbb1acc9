"""Test data restored from a copy of one load through the services (issue 20 item 2,
tests/datacache.py): the demo study the demo tests read equals the one the services wrote — every
table's rows and content, and each history table's latest audit event — and a restore writes no
history of its own, moves the sequences past the restored ids, and is taken again, not loaded again,
while the code is unchanged."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from crf.dbroles import history_tables
from labs.models import VitalSigns
from study.models import Site, Study, User
from tests import datacache
from tests.conftest import PASSWORD, make_user
from tests.factories import protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-20")


def test_the_restored_demo_study_equals_the_loaded_one(demo_study, db):
    loaded = datacache.RESTORED["demo_study"]
    with connection.cursor() as cursor:
        assert sorted(datacache.nonempty_tables(cursor)) == sorted(loaded.tables)
        assert datacache.snapshot(cursor, list(loaded.tables)) == loaded.described()
        assert datacache.latest_events(cursor, history_tables()) == loaded.latest
    rows = loaded.rows()
    assert rows["subjects_subject"] == 24
    assert rows["study_study"] == 1
    assert rows["subjects_subjectevent"] >= 24  # their history came with them
    assert len(loaded.latest) >= 40


def _small_load() -> list[int]:
    """A study, a coordinator and two vital-signs forms through the save service (with history)."""
    from study.roles import Role
    from subjects.models import Subject

    study = Study.objects.create(code="cache-study", title="Cache", registry_id="NCT00000001", phase="I")
    protocol_v1(study)
    site = Site.objects.create(study=study, code="01", name="Site", subject_prefix="C", default_language="en")
    coordinator = make_user("cache_coordinator", site=site, role=Role.COORDINATOR)
    subject = Subject.objects.create(site=site, subject_id="C-001")
    return [
        vital_signs(coordinator, subject, assessment_date=date(2026, 3, day), heart_rate=rate).pk
        for day, rate in ((2, 80), (3, 91))
    ]


def test_a_restore_writes_no_history_and_moves_the_sequences(transactional_db, db_owner, tmp_path, monkeypatch):
    monkeypatch.setattr(datacache, "CACHE_DIR", tmp_path)
    calls = []

    def load() -> list[int]:
        calls.append(1)
        return _small_load()

    manifest = datacache.restore_or_load("small", load, owner=db_owner)
    assert manifest is not None and calls == [1]
    assert (tmp_path / manifest.directory.name / "manifest.json").exists()
    rows = manifest.rows()
    assert rows["labs_vitalsigns"] == 2
    events = rows["labs_vitalsignsevent"]
    assert events >= 2
    assert VitalSigns.objects.filter(pk__in=manifest.result).count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM labs_vitalsignsevent")
        assert cursor.fetchone()[0] == events  # the copy's history, none written by the restore
    # the sequences moved past the restored ids: a new form takes the next one, and has history
    coordinator = User.objects.get(username="cache_coordinator")
    subject = VitalSigns.objects.get(pk=manifest.result[0]).subject
    later = vital_signs(coordinator, subject, assessment_date=date(2026, 3, 9), heart_rate=70)
    assert later.pk > max(manifest.result)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM labs_vitalsignsevent")
        assert cursor.fetchone()[0] > events
    assert coordinator.check_password(PASSWORD)

    datacache.remove(manifest, db_owner)
    assert not VitalSigns.objects.exists() and not Study.objects.exists()
    again = datacache.restore_or_load("small", load, owner=db_owner)
    assert calls == [1]  # the copy is taken again, not loaded again
    assert again.directory == manifest.directory
    assert VitalSigns.objects.count() == 2


def test_the_copy_is_keyed_by_the_code_that_shapes_the_rows(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "services.py").write_text("RATE = 1\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    first = datacache.code_hash(base=tmp_path)
    (tmp_path / "tests" / "test_x.py").write_text("changed = True\n")
    assert datacache.code_hash(base=tmp_path) == first  # tests do not shape stored rows
    (tmp_path / "app" / "services.py").write_text("RATE = 2\n")
    assert datacache.code_hash(base=tmp_path) != first
