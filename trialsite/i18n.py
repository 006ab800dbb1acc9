"""Translation catalogue tools: `python -m trialsite.i18n compile` (pure Python, no gettext
needed to run the app) and `python -m trialsite.i18n check` (the CI gate for zh-hans)."""

from __future__ import annotations

import sys
from pathlib import Path

import polib

BASE_DIR = Path(__file__).resolve().parent.parent
LOCALE_DIR = BASE_DIR / "locale"


def catalogues() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def compile_all() -> None:
    for po_path in catalogues():
        polib.pofile(str(po_path)).save_as_mofile(str(po_path.with_suffix(".mo")))


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "compile":
        compile_all()
        return 0
    print("usage: python -m trialsite.i18n compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
