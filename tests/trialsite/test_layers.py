"""The layers of DESIGN §3 (issue 23): imports run one way, with no exception listed. A lower app
reaches a higher one only through what it declares: the subject models by settings, read
through the one accessor (study/subject_models.py), and hook points (study/hooks.py,
crf/hooks.py, datamanagement/hooks.py)."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import PROJECT_DIR

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
