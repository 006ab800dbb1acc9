"""The code version an endpoint run records (DESIGN §5: same cut, snapshot and code → same tables).

In order: the `TRIALSITE_CODE_VERSION` environment variable (set by an image build); the file
`trialsite/BUILD_VERSION` (written by `make build-version` from `git describe`); `git describe`
when the checkout has its `.git`; else the package version from pyproject.toml, so a clean copy
without `.git` still names itself.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
BUILD_FILE = PROJECT_DIR / "trialsite" / "BUILD_VERSION"


def package_version() -> str:
    text = (PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.MULTILINE)
    return f"trialsite {found.group(1)}" if found else "trialsite (unknown version)"


def git_describe() -> str | None:
    if not (PROJECT_DIR / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    described = done.stdout.strip()
    return f"git {described}" if described else None


@functools.cache
def code_version() -> str:
    from_env = os.environ.get("TRIALSITE_CODE_VERSION", "").strip()
    if from_env:
        return from_env[:100]
    if BUILD_FILE.exists():
        recorded = BUILD_FILE.read_text(encoding="utf-8").strip()
        if recorded:
            return recorded[:100]
    return (git_describe() or package_version())[:100]
