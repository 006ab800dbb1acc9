"""The zh-hans translation gate (`python -m trialsite.i18n check`) and the sign-in page in both
languages (issue 2, item 6)."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest
from django.utils.translation import trans_real

from trialsite import i18n

pytestmark = pytest.mark.req("ISSUE-2.6")

HEADER = {
    "Content-Type": "text/plain; charset=UTF-8",
    "Language": "zh_Hans",
    "Plural-Forms": "nplurals=1; plural=0;",
}


def catalogue(tmp_path: Path, *entries: polib.POEntry, metadata: dict[str, str] | None = None) -> polib.POFile:
    """A zh-hans catalogue saved as tmp_path/django.po and read back (so entries carry lines)."""
    po = polib.POFile()
    po.metadata = dict(HEADER if metadata is None else metadata)
    for entry in entries:
        po.append(entry)
    path = tmp_path / "django.po"
    po.save(str(path))
    return polib.pofile(str(path))


def where(po: polib.POFile) -> str:
    """`file:line` of the catalogue's first entry, as the gate reports it."""
    return f"{po.fpath}:{po[0].linenum}"


def source_tree(root: Path) -> Path:
    """A tiny project: one template and one Python module with translatable strings."""
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "vitals.html").write_text(
        '{% load i18n %}\n<h1>{% translate "Vital signs" %}</h1>\n<p>{% translate "Record vital signs" %}</p>\n',
        encoding="utf-8",
    )
    (root / "labs").mkdir()
    (root / "labs" / "forms.py").write_text(
        "from django.utils.translation import gettext_lazy as _, ngettext\n"
        'LABEL = _("Temperature")\n'
        "def overdue(n):\n"
        '    return ngettext("%(count)s visit overdue", "%(count)s visits overdue", n) % {"count": n}\n',
        encoding="utf-8",
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text('from django.utils.translation import gettext as _\n_("Test only")\n')
    return root


# --- the real catalogue ---------------------------------------------------------------------


def test_real_catalogue_passes_the_gate():
    assert i18n.check() == []


def test_real_catalogue_is_complete_without_extraction():
    po = polib.pofile(str(i18n.catalogue_path()))
    assert i18n.problems(po) == []
    assert po.percent_translated() == 100


def test_check_command_exits_zero_on_the_real_catalogue(capsys):
    assert i18n.main(["check"]) == 0
    assert "zh-hans catalogue complete" in capsys.readouterr().err


# --- missing --------------------------------------------------------------------------------


def test_string_in_a_template_but_not_in_the_catalogue_fails(tmp_path):
    root = source_tree(tmp_path / "project")
    po_path = tmp_path / "django.po"
    catalogue(
        tmp_path,
        polib.POEntry(msgid="Vital signs", msgstr="生命体征"),
        polib.POEntry(msgid="Temperature", msgstr="体温"),
        polib.POEntry(
            msgid="%(count)s visit overdue",
            msgid_plural="%(count)s visits overdue",
            msgstr_plural={0: "%(count)s 次访视已逾期"},
            flags=["python-format"],
        ),
    )

    found = i18n.check(po_path, root)

    assert found == ['templates/vitals.html:3: missing: "Record vital signs" not in the catalogue']


def test_check_leaves_the_source_tree_and_catalogue_unchanged(tmp_path):
    root = source_tree(tmp_path / "project")
    po = catalogue(tmp_path, polib.POEntry(msgid="Vital signs", msgstr="生命体征"))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    found = i18n.check(Path(po.fpath), root)

    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert 'labs/forms.py:2: missing: "Temperature" not in the catalogue' in found
    assert 'labs/forms.py:4: missing: "%(count)s visit overdue" not in the catalogue' in found
    assert not any("Test only" in line for line in found)  # tests/ is ignored


def test_entry_with_empty_translation_is_missing(tmp_path):
    po = catalogue(tmp_path, polib.POEntry(msgid="Sign in", msgstr=""))
    assert i18n.problems(po) == [f'{where(po)}: missing: "Sign in" has no translation']


def test_missing_catalogue_fails(tmp_path):
    found = i18n.check(tmp_path / "nowhere.po", tmp_path)
    assert len(found) == 1
    assert found[0].endswith("nowhere.po: missing: the zh-hans catalogue does not exist")


# --- fuzzy ----------------------------------------------------------------------------------


def test_fuzzy_entry_fails(tmp_path):
    po = catalogue(tmp_path, polib.POEntry(msgid="Sign out", msgstr="登录", flags=["fuzzy"]))
    assert i18n.problems(po) == [f'{where(po)}: fuzzy: "Sign out"']


def test_fuzzy_header_fails(tmp_path):
    po = catalogue(tmp_path, polib.POEntry(msgid="Sign in", msgstr="登录"))
    po.metadata_is_fuzzy = True
    po.save()
    po = polib.pofile(po.fpath)
    assert i18n.problems(po) == [f"{po.fpath}: header: fuzzy (remove the fuzzy flag from the header)"]


def test_check_command_exits_one_and_lists_problems(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(i18n, "check", lambda: ['locale/zh_Hans/LC_MESSAGES/django.po:9: fuzzy: "Sign out"'])
    assert i18n.main(["check"]) == 1
    out = capsys.readouterr()
    assert out.out == 'locale/zh_Hans/LC_MESSAGES/django.po:9: fuzzy: "Sign out"\n'
    assert "1 zh-hans problem(s)" in out.err


# --- identical to English -------------------------------------------------------------------


def test_translation_identical_to_english_fails(tmp_path):
    po = catalogue(tmp_path, polib.POEntry(msgid="Subject", msgstr="Subject"))
    assert i18n.problems(po) == [f'{where(po)}: untranslated: "Subject" is identical to the English']


def test_abbreviation_with_english_words_must_be_translated(tmp_path):
    po = catalogue(tmp_path, polib.POEntry(msgid="CRS grade", msgstr="CRS grade"))
    assert i18n.problems(po) == [f'{where(po)}: untranslated: "CRS grade" is identical to the English']


@pytest.mark.parametrize(
    "msgid", ["CRS", "ICANS", "IL-6", "SpO2", "CD7 CAR-T", "ECOG", "MRD", "BSA (m²)", "SpO2 (%)", "ICE 10", "简体中文"]
)
def test_allow_listed_terms_may_stay_as_they_are(tmp_path, msgid):
    po = catalogue(tmp_path, polib.POEntry(msgid=msgid, msgstr=msgid))
    assert i18n.problems(po) == []


def test_strings_without_letters_may_stay_as_they_are(tmp_path):
    po = catalogue(
        tmp_path,
        polib.POEntry(msgid="%(value)s / %(total)s", msgstr="%(value)s / %(total)s", flags=["python-format"]),
        polib.POEntry(msgid="—", msgstr="—"),
    )
    assert i18n.problems(po) == []


# --- plural forms and placeholders ----------------------------------------------------------


def plural(**overrides) -> polib.POEntry:
    fields = {
        "msgid": "%(count)s query open",
        "msgid_plural": "%(count)s queries open",
        "msgstr_plural": {0: "%(count)s 条质疑未关闭"},
        "flags": ["python-format"],
    }
    fields.update(overrides)
    return polib.POEntry(**fields)


def test_plural_entry_with_its_one_chinese_form_passes(tmp_path):
    po = catalogue(tmp_path, plural())
    assert i18n.problems(po) == []


def test_plural_entry_without_translation_is_missing(tmp_path):
    po = catalogue(tmp_path, plural(msgstr_plural={0: ""}))
    assert i18n.problems(po) == [f'{where(po)}: missing: "%(count)s query open" has no translation']


def test_plural_entry_left_in_english_fails(tmp_path):
    po = catalogue(tmp_path, plural(msgstr_plural={0: "%(count)s queries open"}))
    assert i18n.problems(po) == [f'{where(po)}: untranslated: "%(count)s query open" is identical to the English']


def test_catalogue_without_plural_forms_header_fails(tmp_path):
    po = catalogue(tmp_path, plural(), metadata={"Content-Type": "text/plain; charset=UTF-8"})
    assert i18n.problems(po) == [f"{po.fpath}: header: no Plural-Forms with nplurals"]


def test_translation_that_drops_a_placeholder_fails(tmp_path):
    po = catalogue(
        tmp_path,
        polib.POEntry(msgid="Invitation sent to %(email)s.", msgstr="邀请已发送。", flags=["python-format"]),
    )
    assert i18n.problems(po) == [
        f'{where(po)}: placeholders: "Invitation sent to %(email)s." does not keep the placeholders of the source'
    ]


def test_translation_with_an_unknown_placeholder_fails(tmp_path):
    po = catalogue(tmp_path, plural(msgstr_plural={0: "%(n)s 条质疑未关闭"}))
    assert i18n.problems(po) == [f'{where(po)}: placeholders: "%(count)s query open" uses %(n)s not in the source']


# --- the sign-in page in both languages -----------------------------------------------------


@pytest.fixture
def compiled_catalogue():
    """The .mo is git-ignored and built at install; build it if this checkout has none."""
    po_path = i18n.catalogue_path()
    mo_path = po_path.with_suffix(".mo")
    if not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
        i18n.compile_all()
        trans_real._translations = {}
        trans_real._default = None
    return mo_path


def test_sign_in_page_follows_accept_language_chinese(client, db, compiled_catalogue):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in body
    assert "登录 TrialSite" in body
    assert "用户名" in body
    assert "密码" in body
    assert "Sign in to TrialSite" not in body


def test_sign_in_page_follows_accept_language_english(client, db, compiled_catalogue):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in body
    assert "Sign in to TrialSite" in body
    assert "Username" in body
    assert "登录" not in body


# --- compiling (issue 20: parallel test workers read the .mo while one may compile it) -----------


@pytest.mark.req("ISSUE-20")
def test_compile_replaces_a_stale_mo_in_one_step_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import gettext
    import os

    po = catalogue(tmp_path, polib.POEntry(msgid="Sign in", msgstr="登录"))
    po_path = Path(po.fpath)
    monkeypatch.setattr(i18n, "catalogues", lambda: [po_path])
    assert i18n.compile_if_stale() is True  # no .mo yet
    mo_path = po_path.with_suffix(".mo")
    with mo_path.open("rb") as handle:
        assert gettext.GNUTranslations(handle).gettext("Sign in") == "登录"
    assert i18n.compile_if_stale() is False  # up to date
    inode = mo_path.stat().st_ino
    later = mo_path.stat().st_mtime + 10
    os.utime(po_path, (later, later))  # the .po edited after the last compile
    assert i18n.compile_if_stale() is True
    assert mo_path.stat().st_ino != inode  # a new file renamed over the old, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["django.mo", "django.po"]
