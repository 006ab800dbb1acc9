"""The run's input digest and its schemes (issue 30 item 6): new runs record "v2:<hex>", runs
computed before keep their bare v1 digest, and both verify against the audit trail. The same
inputs give the same digest in any process; changing any input value changes it."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from clinical.protocol import ProtocolChoices
from crf.services import save
from endpoints import services, tables
from endpoints.models import EndpointRun, RunStatus
from tests.endpoints.conftest import CUTOFF, day, now, populate

pytestmark = pytest.mark.req("ISSUE-30")

ROOT = Path(__file__).resolve().parents[2]


def sample() -> tables.CutData:
    """Inputs holding every kind of value a snapshot row holds."""
    when = datetime(2026, 3, 20, 7, 30, 15, 123456, tzinfo=UTC)
    aes = [
        {
            "subject_id": 1 + n % 3,
            "ctcae_term": "Nausea" if n % 2 else "恶心 (nausea)",
            "grade": 1 + n % 4,
            "serious": n % 5 == 0,
            "onset_date": date(2026, 3, 21) + timedelta(days=n),
            "resolution_date": None,
            "cells": Decimal("1.20E6"),
            "course": [{"grade": 2, "from": "2026-03-21"}, {"grade": 3, "from": "2026-03-25"}],
            "notes": "quote \" apostrophe ' line\nbreak",
            "recorded_at": when,
            "id": 100 + n,
            "grade_at_snapshot": 1 + n % 4,
        }
        for n in range(7)
    ]
    return tables.CutData(
        cutoff=date(2026, 6, 30),
        subjects=[{"id": 1, "status": "follow_up", "screening_number": "中-01", "enrolled_on": date(2026, 3, 1)}],
        subject_history=[{"pgh_label": "insert", "status": "screening", "id": 1}],
        consents=[],
        collections=[],
        infusions=[],
        adverse_events=aes,
        deaths=[],
        icaht=[{"subject_id": 1, "inputs": {"anc": [{"day": 1, "value": "0.4"}], "score": None}, "id": 5}],
        mrd_tests=[{"subject_id": 1, "level_pct": Decimal("0.010"), "detected": True, "id": 9}],
    )


CHOICES = ProtocolChoices()
#: the v2 digest of `sample()` with the default settings and settings version 4 (a literal: the
#: same inputs give this digest in every process and on every machine)
SAMPLE_V2 = "v2:cf66b456f5ffd02fbea30debaa23b73725677cb51fd19a871e0b4c2cc79a4cb6"


def digest_of(data: tables.CutData, scheme: str | None = None, version: int | None = 4) -> str:
    return services.input_digest(cutoff=data.cutoff, choices=CHOICES, version=version, data=data, scheme=scheme)


def v1_by_hand(data: tables.CutData, choices: ProtocolChoices, version: int | None) -> str:
    """Scheme v1 as defined: the SHA-256 of the canonical JSON of the whole input document."""
    whole = {
        "cutoff": data.cutoff.isoformat(),
        "inputs": {name: [services._plain(row) for row in getattr(data, name)] for name in tables.CutData.INPUTS},
        "settings": choices.to_json(),
        "settings_version": version,
    }
    return hashlib.sha256(tables.canonical_json(whole).encode()).hexdigest()


def test_new_digests_are_v2_and_the_same_in_another_process():
    assert digest_of(sample()) == SAMPLE_V2
    assert services.digest_scheme_of(SAMPLE_V2) == "v2"
    # Another interpreter with another string-hash seed: same digest.
    code = (
        "import django; django.setup(); from tests.endpoints import test_input_digest as t; "
        "print(t.digest_of(t.sample()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "DJANGO_SETTINGS_MODULE": "trialsite.settings"}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, text=True, capture_output=True, timeout=120
    )
    assert found.stdout.strip().splitlines()[-1] == SAMPLE_V2


def test_v1_is_kept_for_the_runs_computed_before():
    """Scheme v1 (a bare hex digest) is still the SHA-256 of the canonical JSON of the inputs."""
    data = sample()
    expected = v1_by_hand(data, CHOICES, 4)
    assert digest_of(data, scheme="v1") == expected
    assert services.digest_scheme_of(expected) == "v1"
    with pytest.raises(ValueError, match="unknown input digest scheme"):
        digest_of(data, scheme="v9")


def other_value(value: object) -> list[object]:
    """Values different from `value`, among them ones equal to it in JSON or in Python."""
    if value is None:
        return [0, "", "None"]
    if isinstance(value, bool):
        return [not value, int(value), str(value)]
    if isinstance(value, int):
        return [value + 1, str(value), Decimal(value), float(value), None]
    if isinstance(value, Decimal):
        assert str(value) != str(value.normalize())
        return [value + 1, str(value), value.normalize()]  # normalize: equal, written otherwise
    if isinstance(value, datetime):
        return [value + timedelta(microseconds=1), value.astimezone(timezone(timedelta(hours=8))), value.date()]
    if isinstance(value, date):
        return [value + timedelta(days=1), value.isoformat()]
    if isinstance(value, str):
        return [value + " ", value[:-1], None]
    if isinstance(value, list):
        return [[*value, None], value[:-1], list(reversed(value)) if len(value) > 1 else [value]]
    if isinstance(value, dict):
        return [{**value, "extra": 1}, dict.fromkeys(value)]
    raise AssertionError(type(value))


def test_changing_any_input_value_changes_the_digest():
    base = digest_of(sample())
    seen = {base}
    changes = 0
    data = sample()
    for name in tables.CutData.INPUTS:
        for index, row in enumerate(getattr(data, name)):
            for key, value in row.items():
                for replacement in other_value(value):
                    changed = sample()
                    getattr(changed, name)[index][key] = replacement
                    found = digest_of(changed)
                    assert found not in seen, (name, index, key, value, replacement)
                    seen.add(found)
                    changes += 1
    assert changes > 250
    # The cut-off, the settings and their version, the order of the rows, a row in another input.
    assert digest_of(dataclasses.replace(sample(), cutoff=date(2026, 7, 1))) not in seen
    assert digest_of(sample(), version=5) not in seen
    assert digest_of(sample(), version=None) not in seen
    other = ProtocolChoices.from_json({**CHOICES.to_json(), "dlt_window_days": 29})
    found = services.input_digest(cutoff=date(2026, 6, 30), choices=other, version=4, data=sample())
    assert found not in seen
    changed = sample()
    changed.adverse_events.reverse()
    assert digest_of(changed) not in seen
    changed = sample()
    changed.deaths.append(changed.subjects.pop())
    assert digest_of(changed) not in seen
    # A row with other keys than its input's others is written with its keys.
    changed = sample()
    changed.adverse_events[3]["extra"] = None
    assert digest_of(changed) not in seen


def test_a_run_records_v2_and_verifies_old_and_new_runs(world):
    subjects = populate(world)
    at = now()
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF, snapshot_at=at)
    run = services.compute_run(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.input_sha256[:3], len(run.input_sha256)) == ("v2:", 67)
    _data, version, digest = services.load_cut(world.study, cutoff=CUTOFF, at=at)
    assert digest == run.input_sha256
    assert services.verify_inputs(run)

    # A later edit does not change the inputs at the run's snapshot.
    nausea = subjects["a"].adverse_events_adverseevent_set.get(ctcae_term="Nausea", grade=2)
    nausea.grade = 3
    save(user=world.coordinator, instance=nausea, expected_version=nausea.version, reason="source corrected")
    assert services.verify_inputs(run)
    later = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    later = services.compute_run(run_id=later.pk)
    assert later.input_sha256 != run.input_sha256

    # A run computed before v2 recorded the bare v1 digest: it verifies under v1.
    # (v1 covered every column of the AEs: they are read for it with all of them)
    full, _version, digest_v1 = services.load_cut(world.study, cutoff=CUTOFF, at=at, digest_scheme="v1")
    v1 = v1_by_hand(full, full.choices, version)
    assert digest_v1 == v1
    EndpointRun.objects.filter(pk=run.pk).update(input_sha256=v1)
    run.refresh_from_db()
    assert services.digest_scheme_of(run.input_sha256) == "v1"
    assert services.verify_inputs(run)
    # A digest that does not match its inputs does not verify, in either scheme.
    for wrong in (v1[:-1] + ("0" if v1[-1] != "0" else "1"), f"v2:{v1}"):
        EndpointRun.objects.filter(pk=run.pk).update(input_sha256=wrong)
        run.refresh_from_db()
        assert not services.verify_inputs(run)
    assert services.load_cut(world.study, cutoff=day(40), at=at, digest_scheme=services.NO_DIGEST)[2] == ""
