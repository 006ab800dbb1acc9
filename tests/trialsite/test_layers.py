"""The layers of DESIGN §3 (issue 23): imports run one way, with no exception listed. A lower app
reaches a higher one only through what it declares: the subject models by settings, read
through the one accessor (study/subject_models.py), and hook points (study/hooks.py,
crf/hooks.py, datamanagement/hooks.py)."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import PROJECT_DIR
from trialsite import import_graph

#: the apps below subjects/ (the layers contract in pyproject.toml)
BELOW_SUBJECTS = ("datamanagement", "jobs", "crf", "study", "clinical", "dbtools")
#: a subject model named as a string ("subjects.Visit") or looked up in the app registry
NAMED = re.compile(r"""get_model\(\s*["']subjects\b|["']subjects\.[A-Z]""")


def test_the_layers_contract_lists_no_upward_import():
    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in config["contracts"] if c["type"] == "layers"]
    assert layers.get("ignore_imports", []) == []


def test_below_subjects_only_the_accessor_names_a_subject_model():
    found = [
        f"{path.relative_to(PROJECT_DIR)}:{number}"
        for app in BELOW_SUBJECTS
        for path in sorted((PROJECT_DIR / app).rglob("*.py"))
        if "migrations" not in path.parts and path.relative_to(PROJECT_DIR).as_posix() != "study/subject_models.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if NAMED.search(line)
    ]
    assert found == []


def _layers_contract() -> tuple[list[str], list[str]]:
    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in config["contracts"] if c["type"] == "layers"]
    return config["root_packages"], layers["layers"]


def test_every_app_has_its_layer_and_no_layer_lets_two_apps_import_each_other():
    """With every app on its own layer or among independent ones (`|`), the kept contract proves
    that no two apps import each other (issue 23: "no import cycles between apps"); a layer of
    siblings (`:`) would allow a cycle between them."""
    packages, layers = _layers_contract()
    assert [layer for layer in layers if ":" in layer] == []
    in_layers = [app.strip() for layer in layers for app in layer.split("|")]
    assert sorted(in_layers) == sorted(packages)


def test_the_apps_import_graph_has_no_cycle():
    """Read off the code itself (grimp, import-linter's graph), in-function imports included;
    `make lint` runs the same check (`python -m trialsite.import_graph`)."""
    arrows = import_graph.app_arrows()
    assert ("adverse_events", "labs") in arrows and ("labs", "subjects") in arrows
    assert import_graph.cycles(arrows) == []


def test_the_check_finds_a_cycle_between_apps():
    arrows = {("labs", "subjects"), ("subjects", "adverse_events"), ("adverse_events", "labs"), ("crf", "study")}
    assert import_graph.cycles(arrows) == [["adverse_events", "labs", "subjects"]]
    assert import_graph.cycles({("labs", "subjects"), ("subjects", "labs"), ("a", "b"), ("b", "a")}) == [
        ["a", "b"],
        ["labs", "subjects"],
    ]
    assert import_graph.cycles({("adverse_events", "labs"), ("labs", "subjects")}) == []
