"""`make test` splits the suite over pytest-xdist workers unless the caller chose otherwise
(issue 20, item 2): trialsite.testrun.workers."""

from __future__ import annotations

import pytest

from trialsite.testrun import workers

pytestmark = pytest.mark.req("ISSUE-20")


@pytest.mark.parametrize(
    "argv",
    [
        ["--reuse-db", "tests/labs"],  # the kept database is one per process
        ["-n", "3"],
        ["-n3"],
        ["-nauto"],
        ["--numprocesses=2"],
        ["-p", "no:xdist"],
        ["--pdb"],
        ["tests/labs/test_vital_signs.py::test_impossible_vital_signs_are_refused", "-x"],
    ],
)
def test_a_run_chosen_by_hand_is_not_split(argv):
    assert workers(argv, {"TEST_WORKERS": "2"}) == 0


def test_test_workers_decides_and_zero_means_one_process():
    argv = ["-m", "not slow", "--junitxml=artifacts/junit-fast.xml"]
    assert workers(argv, {"TEST_WORKERS": "3"}) == 3
    assert workers(argv, {"TEST_WORKERS": "0"}) == 0


def test_default_is_one_worker_per_cpu_at_most_four(monkeypatch):
    argv = ["-m", "not slow", "tests/labs"]
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert workers(argv, {}) == 2
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert workers(argv, {}) == 4
