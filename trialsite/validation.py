"""The validation pack (issue 32 §3): requirements traced to the tests that prove them and to
the last run's results, generated from the code by `manage.py validation_pack`.

- Requirements: `docs/validation/requirements.toml` — each section of the clinical rules and the
  design the project follows, and each issue's "Done when".
- Tests: every test function under `tests/` carrying `@pytest.mark.req("ID")` — on the function,
  its class, or the module's `pytestmark` — found by reading the source (no test is imported or
  run). A marker with a more specific ID covers its section too: `CLINICAL_SPEC-1.2b` covers
  `CLINICAL_SPEC-1.2` (and `CLINICAL_SPEC-1`).
- Results: the JUnit XML files `make test` and `make test-slow` write (`artifacts/junit-*.xml`);
  a parametrised test failed if any of its cases failed.

The pack is `docs/validation/traceability.md` (and `.csv`): per requirement its tests and their
results, then the requirements no test covers.
"""

from __future__ import annotations

import ast
import csv
import io
import tomllib
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS_FILE = PROJECT_DIR / "docs" / "validation" / "requirements.toml"
RESULT_FILES = ("artifacts/junit-fast.xml", "artifacts/junit-e2e.xml", "artifacts/junit-slow.xml")
PASSED, FAILED, SKIPPED, NOT_RUN = "passed", "failed", "skipped", "not run"


@dataclass(frozen=True)
class Requirement:
    id: str
    source: str
    title: str
    done_when: str = ""


@dataclass
class TracedTest:
    nodeid: str  # tests/app/test_x.py::TestClass::test_name
    requirement_ids: set[str] = field(default_factory=set)


def load_requirements(path: Path = REQUIREMENTS_FILE) -> list[Requirement]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [Requirement(**entry) for entry in data["requirement"]]


def _req_ids(decorators: Iterable[ast.expr]) -> set[str]:
    """IDs of `pytest.mark.req("ID")` among decorator (or pytestmark) expressions."""
    found: set[str] = set()
    for node in decorators:
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "req"
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, str)
            ):
                found.add(call.args[0].value)
    return found


def _module_marks(tree: ast.Module) -> set[str]:
    marks: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks |= _req_ids([node.value])
    return marks


def traced_tests(tests_dir: Path) -> list[TracedTest]:
    """Every test function of `tests_dir` with the requirement IDs it carries (maybe none)."""
    traced = []
    for path in sorted(tests_dir.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module_ids = _module_marks(tree)
        relative = path.relative_to(tests_dir.parent).as_posix()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                ids = module_ids | _req_ids(node.decorator_list)
                traced.append(TracedTest(f"{relative}::{node.name}", ids))
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                class_ids = module_ids | _req_ids(node.decorator_list)
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                        ids = class_ids | _req_ids(item.decorator_list)
                        traced.append(TracedTest(f"{relative}::{node.name}::{item.name}", ids))
    return traced


def covers(marker: str, requirement_id: str) -> bool:
    """A marker covers its own ID and every enclosing section: CLINICAL_SPEC-1.2b covers
    CLINICAL_SPEC-1.2 and CLINICAL_SPEC-1, not CLINICAL_SPEC-1.3 or CLINICAL_SPEC-12."""
    if marker == requirement_id:
        return True
    if not marker.startswith(requirement_id):
        return False
    rest = marker[len(requirement_id) :]
    return rest[0] == "." or (rest[0].isalpha() and requirement_id[-1].isdigit())


def _nodeid(classname: str, name: str) -> str:
    """JUnit's `tests.app.test_x.TestClass` + `test_y[param]` → `tests/app/test_x.py::TestClass::test_y`."""
    base = name.split("[", 1)[0]
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if parts[cut - 1].startswith("test_"):
            return "::".join([module, *parts[cut:], base])
    return "::".join([classname.replace(".", "/") + ".py", base])


def read_results(files: Iterable[Path]) -> tuple[dict[str, str], list[str]]:
    """Outcome per test node (failed beats passed beats skipped) and a line per result file."""
    outcomes: dict[str, str] = {}
    rank = {SKIPPED: 0, PASSED: 1, FAILED: 2}
    described = []
    for path in files:
        if not path.exists():
            continue
        root = ET.parse(path).getroot()  # noqa: S314 - our own runner's file
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            described.append(
                f"{path.name}: {suite.get('tests')} tests, {suite.get('failures')} failures, "
                f"{suite.get('errors')} errors, {suite.get('skipped')} skipped, run at {suite.get('timestamp')}"
            )
            for case in suite.iter("testcase"):
                node = _nodeid(case.get("classname", ""), case.get("name", ""))
                if case.find("failure") is not None or case.find("error") is not None:
                    outcome = FAILED
                elif case.find("skipped") is not None:
                    outcome = SKIPPED
                else:
                    outcome = PASSED
                previous = outcomes.get(node)
                if previous is None or rank[outcome] > rank[previous]:
                    outcomes[node] = outcome
    return outcomes, described


@dataclass
class Pack:
    requirements: list[Requirement]
    tests_by_requirement: dict[str, list[str]]
    outcomes: dict[str, str]
    runs: list[str]
    unknown_markers: dict[str, list[str]]

    @property
    def uncovered(self) -> list[Requirement]:
        return [r for r in self.requirements if not self.tests_by_requirement.get(r.id)]

    def outcome(self, nodeid: str) -> str:
        return self.outcomes.get(nodeid, NOT_RUN)


def build_pack(
    requirements: list[Requirement], tests: list[TracedTest], outcomes: dict[str, str], runs: list[str]
) -> Pack:
    by_requirement: dict[str, list[str]] = defaultdict(list)
    unknown: dict[str, list[str]] = defaultdict(list)
    ids = [r.id for r in requirements]
    for test in tests:
        for marker in sorted(test.requirement_ids):
            matched = [rid for rid in ids if covers(marker, rid)]
            for rid in matched:
                by_requirement[rid].append(test.nodeid)
            if not matched:
                unknown[marker].append(test.nodeid)
    return Pack(requirements, dict(by_requirement), outcomes, runs, dict(unknown))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(pack: Pack) -> str:
    covered = len(pack.requirements) - len(pack.uncovered)
    traced = {node for nodes in pack.tests_by_requirement.values() for node in nodes}
    counts: dict[str, int] = defaultdict(int)
    for node in traced:
        counts[pack.outcome(node)] += 1
    out = io.StringIO()
    w = out.write
    w("# Validation pack: requirements → tests → results\n\n")
    w("Generated by `manage.py validation_pack` from `docs/validation/requirements.toml`, the\n")
    w("`@pytest.mark.req` markers under `tests/` and the last test run's JUnit files. Do not edit by hand.\n\n")
    w("## Summary\n\n")
    w(f"- Requirements: {len(pack.requirements)}; covered by at least one test: {covered}; ")
    w(f"uncovered: {len(pack.uncovered)}.\n")
    w(f"- Tests traced to a requirement: {len(traced)} — ")
    w(", ".join(f"{counts[k]} {k}" for k in (PASSED, FAILED, SKIPPED, NOT_RUN)) + ".\n")
    if pack.runs:
        w("- Runs read: " + "; ".join(pack.runs) + ".\n")
    else:
        w("- No test results found (run `make test` first): every test shows as not run.\n")
    w("\n| requirement | title | tests | passed | failed | not run |\n|---|---|---|---|---|---|\n")
    for req in pack.requirements:
        nodes = pack.tests_by_requirement.get(req.id, [])
        res = [pack.outcome(n) for n in nodes]
        w(
            f"| {req.id} | {_cell(req.title)} | {len(nodes)} | {res.count(PASSED)} | {res.count(FAILED)} | "
            f"{res.count(NOT_RUN) + res.count(SKIPPED)} |\n"
        )
    w("\n## Uncovered requirements\n\n")
    for req in pack.uncovered:
        w(f"- **{req.id}** ({req.source}): {req.title}\n")
    if not pack.uncovered:
        w("None.\n")
    if pack.unknown_markers:
        w("\n## Markers naming no listed requirement\n\n")
        for marker, nodes in sorted(pack.unknown_markers.items()):
            w(f"- `{marker}`: {len(nodes)} tests (e.g. `{nodes[0]}`)\n")
    w("\n## Requirements in detail\n")
    for req in pack.requirements:
        w(f"\n### {req.id} — {req.title}\n\nSource: {req.source}.\n")
        if req.done_when:
            w("\nDone when:\n\n" + "\n".join(f"> {line}" for line in req.done_when.splitlines()) + "\n")
        nodes = pack.tests_by_requirement.get(req.id, [])
        if nodes:
            w("\n| test | result |\n|---|---|\n")
            for node in nodes:
                w(f"| `{node}` | {pack.outcome(node)} |\n")
        else:
            w("\nNo test carries this requirement yet.\n")
    return out.getvalue()


def render_csv(pack: Pack) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["requirement", "source", "title", "test", "result"])
    for req in pack.requirements:
        nodes = pack.tests_by_requirement.get(req.id) or [""]
        for node in nodes:
            writer.writerow([req.id, req.source, req.title, node, pack.outcome(node) if node else "uncovered"])
    return out.getvalue()


def generate(
    out_dir: Path = PROJECT_DIR / "docs" / "validation",
    *,
    tests_dir: Path = PROJECT_DIR / "tests",
    result_files: Iterable[Path] | None = None,
) -> Pack:
    files = list(result_files) if result_files is not None else [PROJECT_DIR / f for f in RESULT_FILES]
    outcomes, runs = read_results(files)
    pack = build_pack(load_requirements(), traced_tests(tests_dir), outcomes, runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "traceability.md").write_text(render_markdown(pack), encoding="utf-8")
    (out_dir / "traceability.csv").write_text(render_csv(pack), encoding="utf-8")
    return pack


def iter_failed(pack: Pack) -> Iterator[str]:
    seen = set()
    for nodes in pack.tests_by_requirement.values():
        for node in nodes:
            if node not in seen and pack.outcome(node) == FAILED:
                seen.add(node)
                yield node
