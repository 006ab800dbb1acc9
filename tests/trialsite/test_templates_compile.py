"""Every project template compiles: a filter or tag used without its `{% load %}` fails here, at
once, instead of as a 500 on the one page that renders it (the lab panel's `term_label` did)."""

from __future__ import annotations

from django.template import TemplateSyntaxError
from django.template.loader import get_template

from tests.conftest import PROJECT_DIR


def test_every_template_compiles():
    root = PROJECT_DIR / "templates"
    names = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.suffix in (".html", ".txt"))
    assert len(names) > 100 and "labs/panel.html" in names and "study/email/invitation.txt" in names
    broken = {}
    for name in names:
        try:
            get_template(name)
        except TemplateSyntaxError as exc:
            broken[name] = str(exc)
    assert broken == {}
