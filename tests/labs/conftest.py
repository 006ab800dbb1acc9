from __future__ import annotations

from pathlib import Path

import pytest
from django.utils.translation import trans_real

from trialsite import i18n


def ensure_compiled_catalogue() -> Path:
    """The .mo is git-ignored and built at install; build it if this checkout has none or an older one."""
    po_path = i18n.catalogue_path()
    mo_path = po_path.with_suffix(".mo")
    if not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
        i18n.compile_all()
        trans_real._translations = {}
        trans_real._default = None
    return mo_path


@pytest.fixture
def compiled_catalogue() -> Path:
    return ensure_compiled_catalogue()
