"""The code version an endpoint run records works on a clean copy without .git (issue 11)."""

from __future__ import annotations

import shutil

import pytest

from study import version

pytestmark = pytest.mark.req("ISSUE-11")


def test_without_git_the_package_version_names_the_code(tmp_path, monkeypatch):
    shutil.copy(version.PROJECT_DIR / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.setattr(version, "PROJECT_DIR", tmp_path)
    monkeypatch.setattr(version, "BUILD_FILE", tmp_path / "BUILD_VERSION")
    monkeypatch.delenv("TRIALSITE_CODE_VERSION", raising=False)
    version.code_version.cache_clear()
    try:
        assert version.git_describe() is None
        assert version.code_version() == "trialsite 0.1.0"
        (tmp_path / "BUILD_VERSION").write_text("git v0.1.0-42-gabc1234\n")
        version.code_version.cache_clear()
        assert version.code_version() == "git v0.1.0-42-gabc1234"
        monkeypatch.setenv("TRIALSITE_CODE_VERSION", "image 2026.11.25")
        version.code_version.cache_clear()
        assert version.code_version() == "image 2026.11.25"
    finally:
        version.code_version.cache_clear()
