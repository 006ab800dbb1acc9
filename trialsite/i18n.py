"""Translation catalogue tools: `python -m trialsite.i18n compile` (pure Python, no gettext
needed to run the app) and `python -m trialsite.i18n check` (the CI gate for zh-hans).

`check` fails (exit 1) and prints one line per problem, `file:line: kind: "msgid"`, when a
zh-hans message is

- missing: a translatable string in the code or templates that the catalogue lacks, or an entry
  with an empty msgstr (any plural form);
- fuzzy;
- identical to its English msgid while the msgid has letters, unless the msgid is made only of
  allow-listed terms (abbreviations Chinese clinicians use as they are), numbers and punctuation;
- broken: placeholders that differ from the msgid's, or a header without a usable Plural-Forms.

To find missing strings it runs Django's `makemessages` (GNU xgettext) in a temporary copy of
the translatable sources and of the catalogue, so the working tree is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import polib

BASE_DIR = Path(__file__).resolve().parent.parent
LOCALE_DIR = BASE_DIR / "locale"
GATED_LOCALE = "zh_Hans"
DOMAIN = "django"


def catalogue_path(locale: str = GATED_LOCALE) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


#: Directories never scanned for strings (as `make messages` ignores them too).
IGNORED_DIRS = frozenset(
    {".venv", "venv", "staticfiles", "node_modules", "tests", "locale", "__pycache__", "artifacts"}
)
#: The same, as makemessages `--ignore` patterns.
IGNORE_PATTERNS = [f"{name}/*" for name in sorted(IGNORED_DIRS)]
#: File types makemessages reads for the `django` domain.
SOURCE_SUFFIXES = frozenset({".py", ".html", ".txt"})

#: Terms Chinese clinicians and staff use as they are; a msgid made only of these, numbers and
#: punctuation may keep its English form in zh-hans. Matching is exact (case-sensitive).
ALLOWED_TERMS = frozenset(
    {
        # product, technical and language names
        "TrialSite", "API", "ID", "IDs", "UTC", "URL", "PDF", "CSV", "XLSX", "XPT", "JSON", "XML",
        "ODM", "SDTM", "ADaM", "CDISC", "Dataset-JSON", "OpenAPI", "REST", "HTTP", "HTTPS",
        "English", "简体中文",
        # trial and regulatory
        "NCT", "GCP", "ICH", "EDC", "CRF", "eCRF", "SAE", "SUSAR", "AE", "AESI", "DLT", "MTD", "RP2D",
        "PI", "CRA", "SDV", "IRB", "EC", "IV",
        # grading systems and dictionaries
        "CTCAE", "MedDRA", "ASTCT", "WHO", "ICD-10", "ICD-O-3", "NCCN", "ELN", "EBMT", "CIBMTR",
        # cell therapy and toxicities
        "CAR-T", "CAR", "CD7", "CD3", "CD4", "CD8", "CD19", "CD22", "CD34", "CD45", "CD56", "NK",
        "CRS", "ICANS", "ICE", "CAPD", "ICAHT", "IEC-HS", "HLH", "MAS", "GvHD", "aGvHD", "cGvHD",
        "HSCT", "allo-HSCT", "DLI", "HLA", "PK", "PD", "qPCR", "ddPCR", "FCM", "VCN",
        # disease and response
        "T-ALL", "T-LBL", "ALL", "AML", "MDS", "MRD", "CR", "CRi", "CRh", "PR", "SD", "ORR", "BOR",
        "OS", "PFS", "EFS", "DOR", "RFS", "KM", "CNS", "CSF",
        # performance status and scores
        "ECOG", "KPS", "BSA", "BMI",
        # laboratory and vital signs
        "IL-6", "IL-2", "IL-10", "IFN-γ", "TNF-α", "CRP", "LDH", "ALT", "AST", "ANC", "WBC", "RBC",
        "HGB", "Hb", "PLT", "INR", "APTT", "PT", "eGFR", "SpO2", "FiO2", "HR", "RR", "BP", "SBP",
        "DBP", "ECG", "QTc", "LVEF", "CT", "MRI", "PET-CT", "EEG",
        # oxygen support
        "CPAP", "BiPAP", "HFNC",
        # units
        "mg", "kg", "g", "mL", "L", "dL", "µL", "uL", "mmol", "µmol", "umol", "U", "IU", "mmHg",
        "bpm", "cm", "m", "m²", "h", "min", "°C", "pg", "ng", "μg", "µg",
    }
)  # fmt: skip

_NAMED = re.compile(r"%\((\w+)\)[#0\- +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa]")
_POSITIONAL = re.compile(r"%(?!\()[#0\- +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa]")
_BRACE = re.compile(r"\{(\w*)(?:[!:][^{}]*)?\}")
_TAG = re.compile(r"<[^<>]+>|&[#\w]+;")
_TOKEN = re.compile(r"[^\W_]+(?:[-/.+²][^\W_]*)*")
_NUMBER = re.compile(r"^[\d.,]+$")


# --- compile ----------------------------------------------------------------------------------


def catalogues() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def compile_all() -> None:
    """Each catalogue's .mo, replaced in one step: another process (a pytest-xdist worker, a
    running server) loading the catalogue meanwhile reads the old file or the new, never half."""
    for po_path in catalogues():
        mo_path = po_path.with_suffix(".mo")
        fd, tmp = tempfile.mkstemp(dir=mo_path.parent, prefix=".django-", suffix=".mo")
        os.close(fd)
        try:
            polib.pofile(str(po_path)).save_as_mofile(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, mo_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def compile_if_stale() -> bool:
    """Compile when a .mo is missing or older than its .po; True if it did."""
    stale = [
        po
        for po in catalogues()
        if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    if stale:
        compile_all()
    return bool(stale)


# --- rules on one catalogue -------------------------------------------------------------------


def _strip_markup(text: str) -> str:
    """The words of a message: without placeholders, HTML tags and entities."""
    text = text.replace("%%", "%")
    for pattern in (_NAMED, _POSITIONAL, _BRACE, _TAG):
        text = pattern.sub(" ", text)
    return text


def has_letters(msgid: str) -> bool:
    return any(ch.isalpha() for ch in _strip_markup(msgid))


def _token_allowed(token: str) -> bool:
    if token in ALLOWED_TERMS or _NUMBER.match(token):
        return True
    parts = [p for p in re.split(r"[-/.+]", token) if p]
    return len(parts) > 1 and all(p in ALLOWED_TERMS or _NUMBER.match(p) for p in parts)


def allowed_as_is(msgid: str) -> bool:
    """True when the msgid is only allow-listed terms, numbers and punctuation."""
    text = _strip_markup(msgid)
    if text.strip() in ALLOWED_TERMS:
        return True
    return all(_token_allowed(token) for token in _TOKEN.findall(text))


def _placeholders(text: str) -> tuple[list[str], int]:
    return sorted(_NAMED.findall(text)), len(_POSITIONAL.findall(text.replace("%%", "")))


def _describe(entry: polib.POEntry) -> str:
    text = entry.msgid if not entry.msgctxt else f"{entry.msgctxt}|{entry.msgid}"
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'


def _where(po: polib.POFile, entry: polib.POEntry | None = None) -> str:
    name = _display_path(po.fpath) if po.fpath else "<catalogue>"
    return f"{name}:{entry.linenum}" if entry is not None and entry.linenum else name


def _display_path(path: str | os.PathLike[str]) -> str:
    resolved = Path(path).resolve()
    with contextlib.suppress(ValueError):
        return str(resolved.relative_to(BASE_DIR))
    return str(path)


def nplurals(po: polib.POFile) -> int | None:
    match = re.search(r"nplurals\s*=\s*(\d+)", po.metadata.get("Plural-Forms", ""))
    return int(match.group(1)) if match else None


def _translations(entry: polib.POEntry, n_forms: int) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural.get(i, "") for i in range(n_forms)]
    return [entry.msgstr]


def problems(po: polib.POFile) -> list[str]:
    """Every problem of one zh-hans catalogue, one line each: `file:line: kind: "msgid"`."""
    found: list[str] = []
    n_forms = nplurals(po)
    if n_forms is None:
        found.append(f"{_where(po)}: header: no Plural-Forms with nplurals")
    if po.metadata_is_fuzzy:
        found.append(f"{_where(po)}: header: fuzzy (remove the fuzzy flag from the header)")
    for entry in po:
        if entry.obsolete or not entry.msgid:
            continue
        where, what = _where(po, entry), _describe(entry)
        if "fuzzy" in entry.flags:
            found.append(f"{where}: fuzzy: {what}")
            continue
        forms = _translations(entry, n_forms or 1)
        if not forms or any(not form for form in forms):
            found.append(f"{where}: missing: {what} has no translation")
            continue
        sources = {entry.msgid, entry.msgid_plural} - {""}
        if any(form in sources for form in forms) and has_letters(entry.msgid) and not allowed_as_is(entry.msgid):
            found.append(f"{where}: untranslated: {what} is identical to the English")
            continue
        found.extend(f"{where}: placeholders: {what} {detail}" for detail in _placeholder_problems(entry, forms))
    return found


def _placeholder_problems(entry: polib.POEntry, forms: list[str]) -> Iterator[str]:
    """A translation may not use a placeholder its source lacks (a KeyError at run time), and a
    singular message's translation must keep every named placeholder and positional argument."""
    if "python-format" not in entry.flags and "python-brace-format" not in entry.flags:
        return
    if "python-brace-format" in entry.flags:
        source_names = set(_BRACE.findall(entry.msgid + " " + entry.msgid_plural))
        for form in forms:
            if not set(_BRACE.findall(form)) <= source_names:
                yield f"uses {sorted(set(_BRACE.findall(form)) - source_names)} not in the source"
        return
    named, positional = _placeholders(entry.msgid)
    plural_named, plural_positional = _placeholders(entry.msgid_plural) if entry.msgid_plural else ([], 0)
    source_names = set(named) | set(plural_named)
    for form in forms:
        form_named, form_positional = _placeholders(form)
        extra = set(form_named) - source_names
        if extra:
            yield f"uses %({')s, %('.join(sorted(extra))})s not in the source"
        if entry.msgid_plural:
            if form_positional != plural_positional:
                yield f"has {form_positional} positional placeholders, the source {plural_positional}"
        elif sorted(set(form_named)) != sorted(set(named)) or form_positional != positional:
            yield "does not keep the placeholders of the source"


# --- strings in the code ----------------------------------------------------------------------


def _source_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not d.startswith("."))
        for filename in filenames:
            if Path(filename).suffix in SOURCE_SUFFIXES and not filename.startswith("."):
                yield Path(dirpath) / filename


def _ensure_django() -> None:
    import django
    from django.conf import settings

    if settings.configured:
        from django.apps import apps

        if apps.ready:
            return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
    # Extraction needs no secret: let settings load with the development defaults.
    os.environ.setdefault("DJANGO_DEBUG", "1")
    django.setup()


def extract(root: Path = BASE_DIR, catalogue: Path | None = None) -> polib.POFile:
    """The strings in the code and templates under `root`, as a .pot (with source locations).

    Runs `makemessages -l zh_Hans` in a temporary copy of the translatable sources and of the
    catalogue, so nothing under `root` is written (not even makemessages' scratch files)."""
    from django.core.management import call_command
    from django.test.utils import override_settings

    _ensure_django()
    if shutil.which("xgettext") is None:
        raise RuntimeError("GNU gettext (xgettext) is needed to extract strings: apt-get install gettext")
    catalogue = catalogue_path() if catalogue is None else catalogue
    with tempfile.TemporaryDirectory(prefix="trialsite-i18n-") as tmp:
        work = Path(tmp)
        for source in _source_files(root):
            target = work / source.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        locale_dir = work / "locale"
        (locale_dir / GATED_LOCALE / "LC_MESSAGES").mkdir(parents=True)
        if catalogue.exists():
            shutil.copyfile(catalogue, locale_dir / GATED_LOCALE / "LC_MESSAGES" / f"{DOMAIN}.po")
        with override_settings(LOCALE_PATHS=[str(locale_dir)]), contextlib.chdir(work):
            call_command(
                "makemessages",
                locale=[GATED_LOCALE],
                domain=DOMAIN,
                ignore_patterns=list(IGNORE_PATTERNS),
                keep_pot=True,
                no_obsolete=True,
                verbosity=0,
            )
        pot_path = locale_dir / f"{DOMAIN}.pot"
        return polib.pofile(str(pot_path)) if pot_path.exists() else polib.POFile()


def _key(entry: polib.POEntry) -> tuple[str | None, str]:
    return entry.msgctxt, entry.msgid


def missing(po: polib.POFile, extracted: polib.POFile) -> list[str]:
    """Strings in the code (`extracted`, a .pot) that the catalogue `po` lacks, one line each:
    `source-file:line: missing: "msgid"`."""
    present = {_key(entry): entry for entry in po if not entry.obsolete}
    found: list[str] = []
    for entry in extracted:
        if not entry.msgid or entry.obsolete:
            continue
        have = present.get(_key(entry))
        if have is not None and (have.msgid_plural or "") == (entry.msgid_plural or ""):
            continue
        where = _display_path(entry.occurrences[0][0]) if entry.occurrences else _where(po)
        if entry.occurrences and entry.occurrences[0][1]:
            where = f"{where}:{entry.occurrences[0][1]}"
        detail = " (plural form differs)" if have is not None else " not in the catalogue"
        found.append(f"{where}: missing: {_describe(entry)}{detail}")
    return found


def stale(po: polib.POFile, extracted: polib.POFile) -> list[str]:
    """Catalogue entries no longer in the code (not a failure; `make messages` drops them)."""
    wanted = {_key(entry) for entry in extracted}
    return [_describe(e) for e in po if e.msgid and not e.obsolete and _key(e) not in wanted]


def check(catalogue: Path | None = None, root: Path = BASE_DIR) -> list[str]:
    """All gate problems for the zh-hans catalogue against the strings under `root`."""
    catalogue = catalogue_path() if catalogue is None else catalogue
    if not catalogue.exists():
        return [f"{_display_path(catalogue)}: missing: the zh-hans catalogue does not exist"]
    po = polib.pofile(str(catalogue))
    return missing(po, extract(root, catalogue)) + problems(po)


def _report(found: Iterable[str]) -> int:
    lines = list(found)
    for line in lines:
        print(line)
    if lines:
        print(
            f"i18n check: {len(lines)} zh-hans problem(s). Run `make messages`, translate, then check again.",
            file=sys.stderr,
        )
        return 1
    print("i18n check: zh-hans catalogue complete.", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "compile":
        compile_all()
        return 0
    if command == "check":
        return _report(check())
    print("usage: python -m trialsite.i18n compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
