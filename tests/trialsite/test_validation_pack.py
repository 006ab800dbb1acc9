"""The validation pack (issue 32 §3): requirements → tests (by `req` marker) → last results,
and the uncovered requirements listed. Built on a small tests tree and JUnit file of its own."""

from __future__ import annotations

import csv
import io
import textwrap

import pytest
from django.core.management import call_command

from trialsite import validation
from trialsite.validation import FAILED, NOT_RUN, PASSED, SKIPPED, Requirement, covers

pytestmark = pytest.mark.req("ISSUE-32")

TEST_MODULE = textwrap.dedent(
    """
    import pytest

    pytestmark = [pytest.mark.django_db, pytest.mark.req("DESIGN-4a")]

    @pytest.mark.req("CLINICAL_SPEC-1.2b")
    def test_fever_masking():
        pass

    @pytest.mark.parametrize("x", [1, 2])
    def test_gate(x):
        pass

    @pytest.mark.req("ISSUE-99")
    class TestExports:
        @pytest.mark.req("CLINICAL_SPEC-9")
        def test_xpt(self):
            pass

    def helper_not_a_test():
        pass
    """
)

JUNIT = textwrap.dedent(
    """\
    <?xml version="1.0" encoding="utf-8"?>
    <testsuites><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="4"
        timestamp="2026-12-06T05:00:00">
      <testcase classname="tests.app.test_rules" name="test_fever_masking" time="0.1"/>
      <testcase classname="tests.app.test_rules" name="test_gate[1]" time="0.1"/>
      <testcase classname="tests.app.test_rules" name="test_gate[2]" time="0.1"><failure message="boom"/></testcase>
      <testcase classname="tests.app.test_rules.TestExports" name="test_xpt" time="0.1"><skipped/></testcase>
    </testsuite></testsuites>
    """
)

REQUIREMENTS = [
    Requirement("CLINICAL_SPEC-1", "CLINICAL_SPEC.md", "CRS"),
    Requirement("CLINICAL_SPEC-1.2", "CLINICAL_SPEC.md", "Rules"),
    Requirement("CLINICAL_SPEC-1.2b", "CLINICAL_SPEC.md", "Masking"),
    Requirement("CLINICAL_SPEC-1.3", "CLINICAL_SPEC.md", "Capture"),
    Requirement("CLINICAL_SPEC-9", "CLINICAL_SPEC.md", "Datasets"),
    Requirement("DESIGN-4", "DESIGN.md", "Core concepts"),
    Requirement("DESIGN-4a", "DESIGN.md", "Permissions"),
]


@pytest.fixture
def tree(tmp_path):
    tests_dir = tmp_path / "tests" / "app"
    tests_dir.mkdir(parents=True)
    (tests_dir / "test_rules.py").write_text(TEST_MODULE)
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    return tmp_path / "tests", junit


@pytest.mark.parametrize(
    ("marker", "requirement", "expected"),
    [
        ("CLINICAL_SPEC-1.2b", "CLINICAL_SPEC-1.2b", True),
        ("CLINICAL_SPEC-1.2b", "CLINICAL_SPEC-1.2", True),
        ("CLINICAL_SPEC-1.2b", "CLINICAL_SPEC-1", True),
        ("CLINICAL_SPEC-1.2b", "CLINICAL_SPEC-1.3", False),
        ("CLINICAL_SPEC-12", "CLINICAL_SPEC-1", False),
        ("DESIGN-4a", "DESIGN-4", True),
        ("DESIGN-4", "DESIGN-4a", False),
        ("ISSUE-2.6", "ISSUE-2", True),
        ("ISSUE-20", "ISSUE-2", False),
    ],
)
def test_a_marker_covers_its_sections(marker, requirement, expected):
    assert covers(marker, requirement) is expected


def test_markers_are_read_from_function_class_and_module(tree):
    tests_dir, _ = tree
    found = {t.nodeid: t.requirement_ids for t in validation.traced_tests(tests_dir)}
    assert found == {
        "tests/app/test_rules.py::test_fever_masking": {"DESIGN-4a", "CLINICAL_SPEC-1.2b"},
        "tests/app/test_rules.py::test_gate": {"DESIGN-4a"},
        "tests/app/test_rules.py::TestExports::test_xpt": {"DESIGN-4a", "ISSUE-99", "CLINICAL_SPEC-9"},
    }


def test_results_fold_parametrised_cases_and_classes(tree):
    _, junit = tree
    outcomes, runs = validation.read_results([junit])
    assert outcomes == {
        "tests/app/test_rules.py::test_fever_masking": PASSED,
        "tests/app/test_rules.py::test_gate": FAILED,  # one of two cases failed
        "tests/app/test_rules.py::TestExports::test_xpt": SKIPPED,
    }
    assert runs == ["junit.xml: 4 tests, 1 failures, 0 errors, 0 skipped, run at 2026-12-06T05:00:00"]


def test_pack_traces_requirements_and_lists_the_uncovered(tree):
    tests_dir, junit = tree
    outcomes, runs = validation.read_results([junit])
    pack = validation.build_pack(REQUIREMENTS, validation.traced_tests(tests_dir), outcomes, runs)
    assert pack.tests_by_requirement["CLINICAL_SPEC-1"] == ["tests/app/test_rules.py::test_fever_masking"]
    assert len(pack.tests_by_requirement["DESIGN-4"]) == 3
    assert [r.id for r in pack.uncovered] == ["CLINICAL_SPEC-1.3"]
    assert pack.unknown_markers == {"ISSUE-99": ["tests/app/test_rules.py::TestExports::test_xpt"]}
    assert list(validation.iter_failed(pack)) == ["tests/app/test_rules.py::test_gate"]
    assert pack.outcome("tests/app/test_other.py::test_never_ran") == NOT_RUN

    text = validation.render_markdown(pack)
    assert "- Requirements: 7; covered by at least one test: 6; uncovered: 1." in text
    assert "- Tests traced to a requirement: 3 — 1 passed, 1 failed, 1 skipped, 0 not run." in text
    assert "| DESIGN-4a | Permissions | 3 | 1 | 1 | 1 |" in text
    assert "- **CLINICAL_SPEC-1.3** (CLINICAL_SPEC.md): Capture" in text
    rows = list(csv.DictReader(io.StringIO(validation.render_csv(pack))))
    assert {
        "requirement": "CLINICAL_SPEC-1.3",
        "source": "CLINICAL_SPEC.md",
        "title": "Capture",
        "test": "",
        "result": "uncovered",
    } in rows


def test_the_projects_requirements_load_and_every_issue_names_its_done_when():
    requirements = validation.load_requirements()
    ids = [r.id for r in requirements]
    assert len(ids) == len(set(ids))
    assert {"CLINICAL_SPEC-1.2b", "CLINICAL_SPEC-3.1", "DESIGN-4a", "ISSUE-32"} <= set(ids)
    issue_32 = next(r for r in requirements if r.id == "ISSUE-32")
    assert "check_installation" in issue_32.done_when


def test_command_writes_the_pack(tmp_path):
    out = io.StringIO()
    call_command("validation_pack", "--out", str(tmp_path), "--results", str(tmp_path / "none.xml"), stdout=out)
    text = (tmp_path / "traceability.md").read_text()
    assert "No test results found" in text
    assert "### ISSUE-32 — " in text
    # this very module traces ISSUE-32, so it is not listed as uncovered
    assert "- **ISSUE-32**" not in text
    assert "requirements," in out.getvalue()
