"""CSV import of one form, for migrating a paper or spreadsheet study (issue 6 item 3).

Generic over every CRF in `crf.registry.crf_models()`: the columns are the form page's fields
by name, plus

- `subject`: subject ID (e.g. `YD-001`) or screening number, looked up through the visibility
  gate — a subject at a site the user cannot see is "not found";
- `visit`: visit code (optional);
- `id` and `version`: present to change a saved form (compare-and-set, like the page);
- `reason`: reason for change, required for every change by import;
- `entry_status`: `complete` or `in_progress` (blank: in progress when new, unchanged when updating);
- `missing__<field>`: the "not done / unknown" code (ND, UNK, NA) of a field that allows one.

Changing a saved form (issue 21): a blank cell leaves the stored value unchanged; to clear a value
write `<clear>` (CLEAR_MARKER), as the template's `#` row says. Every value an import would clear
is listed (`ImportResult.cleared`) in the dry-run report.

Each row is parsed by the same form class as the page (`crf.forms.form_class_for`) and saved
through `crf.services.save` — the form's registered service, which calls `save_form` — so
compare-and-set, locks, reason for change, derivations and edit checks are those of the page.
The whole file is one transaction: nothing is saved unless every row passes. Each saved row's
audit context names the import (`import_file`, `import_sha256`, `import_record`, `import_row`)
and the reason. An `ImportRecord` keeps who, when, which file and the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pghistory
from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DatabaseError, transaction
from django.forms.models import model_to_dict
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crf.csvfiles import CsvFile, write_csv
from crf.declarations import declaration_for
from crf.forms import CrfFormBase, form_class_for
from crf.models import CrfInstance, EntryStatus, ImportRecord, MissingCode
from crf.queries import save_correcting
from crf.services import StaleVersionError, batched_writes
from study import access
from study.access import subjects_visible_to
from study.audit_context import audit_context
from study.roles import Action

if TYPE_CHECKING:
    from study.models import User

CONTROL_COLUMNS = ("subject", "visit", "id", "version", "entry_status", "reason")
#: the cell that clears a stored value when changing a saved form (a blank cell keeps it)
CLEAR_MARKER = "<clear>"
#: fields of the page's form that the import fills from control columns, not by name
FORM_CONTROL_FIELDS = ("opened_version", "mark_complete", "reason", "visit")
DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d"]
TIME_FORMATS = ["%H:%M", "%H:%M:%S"]
DATETIME_FORMATS = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
]
TRUE_WORDS = {"true", "yes", "y", "1", "是", "√"}
FALSE_WORDS = {"false", "no", "n", "0", "否"}


@dataclass(frozen=True)
class RowError:
    """One problem: the row number as a spreadsheet shows it (the header is row 1), the column
    (blank for the whole row), and the message in the importer's language."""

    row: int
    field: str
    message: str
    #: what the cell held, for the report
    value: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "value": self.value, "message": self.message}


@dataclass
class ImportResult:
    outcome: str
    rows: int
    errors: list[RowError] = field(default_factory=list)
    #: [{"row": n, "id": pk, "subject": subject pk, "version": v}]
    created: list[dict[str, int]] = field(default_factory=list)
    updated: list[dict[str, int]] = field(default_factory=list)
    unchanged: list[dict[str, int]] = field(default_factory=list)
    #: every stored value the import clears: [{"row": n, "id": pk, "column": name, "value": old}]
    cleared: list[dict[str, object]] = field(default_factory=list)
    record: ImportRecord | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


# --- columns and the template ---------------------------------------------------------------


def data_columns(model: type[CrfInstance]) -> list[str]:
    """The form's editable fields by name, each "not done / unknown" code after its field."""
    names = [name for name in form_class_for(model).base_fields if name not in FORM_CONTROL_FIELDS]
    columns: list[str] = []
    for name in names:
        columns.append(name)
        if name in model.missing_allowed:
            columns.append(f"missing__{name}")
    return columns


def columns(model: type[CrfInstance]) -> list[str]:
    return ["subject", "visit", "id", "version", *data_columns(model), "entry_status", "reason"]


def _field_hint(model: type[CrfInstance], form_field: forms.Field, name: str) -> str:
    if name.startswith("missing__"):
        field_name = name.removeprefix("missing__")
        return _("%(field)s: not done / unknown code, one of %(codes)s") % {
            "field": model._meta.get_field(field_name).verbose_name,
            "codes": ", ".join(f"{code} ({label})" for code, label in MissingCode.choices),
        }
    model_field = model._meta.get_field(name)
    parts = [str(model_field.verbose_name)]
    if isinstance(form_field, forms.DateTimeField):
        parts.append(_("YYYY-MM-DD HH:MM, site time"))
    elif isinstance(form_field, forms.DateField):
        parts.append(_("YYYY-MM-DD"))
    elif isinstance(form_field, forms.TimeField):
        parts.append(_("HH:MM"))
    elif isinstance(form_field, forms.NullBooleanField | forms.BooleanField):
        parts.append(_("yes or no"))
    elif isinstance(form_field, forms.ModelChoiceField):
        parts.append(_("id of the linked record"))
    elif isinstance(form_field, forms.ChoiceField):
        choices = [f"{value} ({label})" for value, label in form_field.choices if value != ""]
        parts.append(_("one of: %(choices)s") % {"choices": "; ".join(choices)})
    elif isinstance(form_field, forms.DecimalField | forms.FloatField | forms.IntegerField):
        low = next((v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator)), None)
        high = next((v.limit_value for v in model_field.validators if isinstance(v, MaxValueValidator)), None)
        if low is not None and high is not None:
            parts.append(_("number from %(low)s to %(high)s") % {"low": low, "high": high})
        else:
            parts.append(_("number"))
    elif isinstance(form_field, forms.JSONField):
        parts.append(_("JSON"))
    if form_field.required:
        parts.append(_("required"))
    return " — ".join(parts)


def describe_columns(model: type[CrfInstance]) -> list[tuple[str, str]]:
    """(column, what to write in it), in the template's order: the companion description."""
    form_fields = {**form_class_for(model).base_fields}
    control = {
        "subject": _("Subject ID or screening number — required"),
        "visit": _("Visit code as on the schedule (optional)"),
        "id": _("Id of a saved form, only to change it; blank for a new form"),
        "version": _("Version of the saved form you change (with id)"),
        "entry_status": _("complete or in_progress; blank: in progress when new, unchanged when changing"),
        "reason": _("Reason for change — required with id"),
    }
    described = []
    for name in columns(model):
        if name in control:
            described.append((name, str(control[name])))
        elif name.startswith("missing__"):
            described.append((name, _field_hint(model, forms.CharField(required=False), name)))
        else:
            described.append((name, _field_hint(model, form_fields[name], name)))
    return described


CLEAR_NOTE = gettext_lazy("(Changing a saved form: a blank cell keeps the stored value; write <clear> to clear it.)")


def template_csv(model: type[CrfInstance]) -> bytes:
    """Header row, then a documentation row (starting with `#`, skipped on import)."""
    described = describe_columns(model)
    doc = [text for _name, text in described]
    doc[0] = "# " + doc[0] + " " + str(CLEAR_NOTE)
    return write_csv([[name for name, _text in described], doc])


def error_report_csv(errors: Iterable[RowError]) -> bytes:
    """The report as CSV for a spreadsheet: row, column, the cell as written, message."""
    header = [_("row"), _("column"), _("value"), _("message")]
    return write_csv([header, *([e.row, e.field, e.value, e.message] for e in errors)])


def check_header(model: type[CrfInstance], header: list[str]) -> list[RowError]:
    known = set(columns(model))
    errors = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(RowError(1, name, _("This column appears twice.")))
        elif name not in known:
            errors.append(
                RowError(1, name, _("Unknown column: not a field of this form. The template lists the columns."))
            )
        seen.add(name)
    if "subject" not in header:
        errors.append(RowError(1, "subject", _("The subject column is required.")))
    if "version" in header and "id" not in header:
        errors.append(RowError(1, "version", _("A version column needs an id column.")))
    return errors


# --- the import -------------------------------------------------------------------------------


class _RollBack(Exception):
    """Leaves the import's transaction without saving anything."""


class _RowRefused(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors


class _SaveRefused(_RowRefused):
    """Refused by the save service, which may have written part of the row before it refused."""


class _SavepointsNeeded(Exception):
    """A row failed inside its save in a pass without a savepoint per row: that pass is taken
    back and the file checked again with one per row (`_run`)."""


def _all_labels(label: object) -> set[str]:
    found = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            found.add(str(label).casefold())
    return found


def _rebind(form: CrfFormBase, data: dict[str, Any], instance: CrfInstance) -> None:
    """Bind `form` to another row, as `form_class(data, instance=instance)` would: the data,
    the instance (which validation fills in), its values as the initial ones, and no errors,
    cleaned data or initial values of bound fields kept from the row before."""
    form.data = data
    form.is_bound = True
    form.instance = instance
    form.initial = model_to_dict(instance, form._meta.fields, form._meta.exclude)
    form._errors = None  # type: ignore[assignment]
    for bound in form._bound_fields_cache.values():  # kept (names, labels, widgets); their data is read anew
        bound.__dict__.pop("initial", None)
        bound.__dict__.pop("subwidgets", None)
    form._validate_unique = False
    form.__dict__.pop("cleaned_data", None)


class _Importer:
    def __init__(self, *, user: User, model: type[CrfInstance], csv_file: CsvFile) -> None:
        self.user = user
        self.model = model
        self.csv_file = csv_file
        self.header = csv_file.header
        self.form_class = form_class_for(model)
        self.default_reason = _("CSV import: %(file)s") % {"file": csv_file.file_name}
        self._subjects: dict[str, list[Any]] | None = None
        self._choice_maps: dict[str, dict[str, str]] = {}
        self.cleared: list[dict[str, object]] = []
        self._forms: dict[tuple[int, bool, frozenset[str]], CrfFormBase] = {}

    # lookups
    def subject(self, number: int, key: str) -> Any:
        if self._subjects is None:
            self._subjects = {}
            for subject in subjects_visible_to(self.user):
                for name in {subject.subject_id, subject.screening_number} - {""}:
                    self._subjects.setdefault(name.casefold(), []).append(subject)
        if not key:
            raise _RowRefused([RowError(number, "subject", _("Give the subject ID or screening number."))])
        found = self._subjects.get(key.casefold(), [])
        if not found:
            raise _RowRefused(
                [RowError(number, "subject", _("Subject %(subject)s not found at your sites.") % {"subject": key})]
            )
        if len(found) > 1:
            raise _RowRefused(
                [
                    RowError(
                        number,
                        "subject",
                        _("%(subject)s names several subjects at your sites: import per site.") % {"subject": key},
                    )
                ]
            )
        subject = found[0]
        if not access.can(self.user, Action.EDIT_CRF, site=subject.site):
            raise _RowRefused(
                [RowError(number, "subject", _("You may not enter data for subject %(subject)s.") % {"subject": key})]
            )
        return subject

    def choice_map(self, name: str, form_field: forms.ChoiceField) -> dict[str, str]:
        """Codes and labels (in every language) of a choice field, to its code."""
        if name not in self._choice_maps:
            mapping: dict[str, str] = {}
            for value, label in form_field.choices:
                if value == "":
                    continue
                mapping[str(value).casefold()] = str(value)
                for text in _all_labels(label):
                    mapping.setdefault(text, str(value))
            self._choice_maps[name] = mapping
        return self._choice_maps[name]

    # one row
    def cell_value(self, name: str, raw: str, form_field: forms.Field, number: int) -> object:
        """A cell as form data. Text is passed as written (the form strips spaces, as on the
        page); booleans and choices accept the words and labels people type."""
        if isinstance(form_field, forms.NullBooleanField | forms.BooleanField):
            word = raw.strip().casefold()
            if word == "":
                return "" if isinstance(form_field, forms.NullBooleanField) else "false"
            if word in TRUE_WORDS:
                return "true"
            if word in FALSE_WORDS:
                return "false"
            raise _RowRefused([RowError(number, name, _("Write yes or no."))])
        if isinstance(form_field, forms.ChoiceField) and not isinstance(form_field, forms.ModelChoiceField):
            return self.choice_map(name, form_field).get(raw.strip().casefold(), raw.strip())
        return raw

    def entry_status(self, number: int, raw: str, current: CrfInstance | None) -> str:
        word = raw.strip().casefold()
        if not word:
            return current.entry_status if current is not None else EntryStatus.IN_PROGRESS
        for status in (EntryStatus.COMPLETE, EntryStatus.IN_PROGRESS):
            if word == status.value or word in _all_labels(status.label):
                return status.value
        raise _RowRefused([RowError(number, "entry_status", _("Write complete or in_progress."))])

    def visit_pk(self, number: int, subject: Any, code: str) -> int:
        visit = subject.visits.filter(definition__code__iexact=code.strip()).only("pk").first()
        if visit is None:
            raise _RowRefused(
                [
                    RowError(
                        number,
                        "visit",
                        _("Subject %(subject)s has no visit %(visit)s.") % {"subject": subject, "visit": code},
                    )
                ]
            )
        return visit.pk

    def build_form(self, number: int, cells: dict[str, str], subject: Any) -> tuple[CrfFormBase, CrfInstance | None]:
        errors: list[RowError] = []
        pk_text = cells.get("id", "").strip()
        version_text = cells.get("version", "").strip()
        current: CrfInstance | None = None
        if pk_text:
            if not pk_text.isdigit():
                raise _RowRefused([RowError(number, "id", _("The id is a whole number."))])
            current = self.model._default_manager.filter(pk=int(pk_text), subject=subject).first()
            if current is None:
                raise _RowRefused(
                    [
                        RowError(
                            number,
                            "id",
                            _("Subject %(subject)s has no %(form)s with id %(id)s.")
                            % {"subject": subject, "form": self.model.crf_title, "id": pk_text},
                        )
                    ]
                )
            if not cells.get("reason", "").strip():
                errors.append(RowError(number, "reason", _("A change by import needs a reason for change.")))
            if not version_text:
                errors.append(RowError(number, "version", _("Give the version of the form you change.")))
            instance = current
        else:
            if version_text:
                errors.append(RowError(number, "version", _("A version is given only with an id.")))
            if declaration_for(self.model).lifecycle:
                errors.append(
                    RowError(
                        number,
                        "id",
                        _(
                            "New %(form)s records are entered on the subject's pages; "
                            "the import only corrects saved ones."
                        )
                        % {"form": self.model.crf_title},
                    )
                )
            instance = self.model(subject=subject)
        if version_text and not version_text.isdigit():
            errors.append(RowError(number, "version", _("The version is a whole number.")))
        data: dict[str, Any] = {}
        if current is not None:  # columns left out keep the saved values
            unbound = self.form_class(instance=current)
            data = {name: unbound[name].value() for name in unbound.fields}
        # one form for the rows of a subject (new forms, or saved ones of one CRF version), bound
        # to each row's data in turn: its fields convert the cells and validate the row
        form = self._form_for(subject, instance, new=current is None)
        for name in self.header:
            if name in CONTROL_COLUMNS or name not in form.fields:
                continue
            raw = cells.get(name, "")
            if not raw.strip() or (current is None and raw.strip() == CLEAR_MARKER):
                continue  # blank: unchanged in a saved form, the field's default in a new one
            if raw.strip() == CLEAR_MARKER:
                self._clear(number, current, name, data)
                continue
            try:
                data[name] = self.cell_value(name, raw, form.fields[name], number)
            except _RowRefused as refused:
                errors.extend(refused.errors)
        if current is None:  # left out or blank in a new form: the field's default, as the page offers
            for model_field in self.model._meta.concrete_fields:
                name = model_field.name
                if name in form.fields and name not in data and model_field.has_default():
                    data[name] = model_field.get_default()
        if "visit" in self.header:
            code = cells.get("visit", "").strip()
            if code == CLEAR_MARKER:
                if current is not None and current.visit_id is not None:
                    entry = {"row": number, "id": current.pk, "column": "visit", "value": str(current.visit)}
                    self.cleared.append(entry)
                data["visit"] = ""
            elif code:
                try:
                    data["visit"] = self.visit_pk(number, subject, code)
                except _RowRefused as refused:
                    errors.extend(refused.errors)
            elif current is not None:  # blank: the saved visit stays
                data["visit"] = current.visit_id or ""
        data["opened_version"] = version_text if version_text.isdigit() else ""
        data["reason"] = cells.get("reason", "")
        if errors:
            raise _RowRefused(errors)
        _rebind(form, data, instance)
        return form, current

    def _form_for(self, subject: Any, instance: CrfInstance, *, new: bool) -> CrfFormBase:
        """The page's form for this subject's rows, built once (issue 22: building one a row was
        39 % of an import's CPU, mostly copying its fields). Its fields depend on the subject
        (the visit and linked-form choices) and the record's CRF version (its hidden fields),
        not on the row's values; `_rebind` gives it each row's data and instance."""
        key = (subject.pk, new, instance.hidden_fields)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = self.form_class({}, instance=instance)
            for form_field in form.fields.values():
                if isinstance(form_field, forms.DateTimeField):
                    form_field.input_formats = DATETIME_FORMATS
                elif isinstance(form_field, forms.DateField):
                    form_field.input_formats = DATE_FORMATS
                elif isinstance(form_field, forms.TimeField):
                    form_field.input_formats = TIME_FORMATS
        return form

    def _clear(self, number: int, current: CrfInstance | None, name: str, data: dict[str, Any]) -> None:
        """`<clear>` in a saved form: the value becomes empty, and the report lists what it was."""
        old = data.get(name)
        if current is not None and old not in (None, "", [], False):
            self.cleared.append({"row": number, "id": current.pk, "column": name, "value": str(old)})
        data[name] = ""

    def column_for(self, name: str) -> str:
        if name == NON_FIELD_ERRORS:
            return ""
        if name == "opened_version":
            return "version"
        return name if name in columns(self.model) else ""

    def import_row(self, number: int, record: list[str]) -> tuple[str, CrfInstance]:
        if len(record) > len(self.header) and any(cell.strip() for cell in record[len(self.header) :]):
            raise _RowRefused([RowError(number, "", _("This row has more cells than the header has columns."))])
        cells = dict(zip(self.header, record, strict=False))
        subject = self.subject(number, cells.get("subject", "").strip())
        with timezone.override(subject.site.time_zone):
            form, current = self.build_form(number, cells, subject)
            status = self.entry_status(number, cells.get("entry_status", ""), current)
            if not form.is_valid():
                raise _RowRefused(
                    [
                        RowError(number, self.column_for(name), str(message))
                        for name, messages in form.errors.items()
                        for message in messages
                    ]
                )
            edited = form.save(commit=False)
            edited.missing = form.missing_codes()
            edited.entry_status = status
            reason = form.cleaned_data["reason"]
            pghistory.context(reason=reason or self.default_reason, import_row=number)
            try:
                saved = save_correcting(
                    user=self.user,
                    instance=edited,
                    expected_version=form.cleaned_data["opened_version"],
                    reason=reason,
                )
            except StaleVersionError as exc:
                raise _SaveRefused(
                    [
                        RowError(
                            number,
                            "version",
                            _(
                                "Someone saved this form after version %(version)s: it is now at version "
                                "%(current)s. Nothing was imported; compare with the current values."
                            )
                            % {"version": form.cleaned_data["opened_version"], "current": exc.current.version},
                        )
                    ]
                ) from None
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    raise _SaveRefused(
                        [
                            RowError(number, self.column_for(name), str(message))
                            for name, errors in exc.error_dict.items()
                            for error in errors
                            for message in error.messages
                        ]
                    ) from None
                raise _SaveRefused([RowError(number, "", str(message)) for message in exc.messages]) from None
            except PermissionDenied:
                raise _SaveRefused(
                    [
                        RowError(
                            number,
                            "subject",
                            _("You may not enter data for subject %(subject)s.") % {"subject": subject},
                        )
                    ]
                ) from None
        if current is None:
            return "created", saved
        return ("updated" if saved.version != current.version else "unchanged"), saved


def import_forms(
    *,
    user: User,
    model: type[CrfInstance],
    csv_file: CsvFile,
    channel: str,
    dry_run: bool = False,
    record: bool = True,
) -> ImportResult:
    """Import every row of `csv_file` into `model`, or nothing. Rows are saved in file order, each
    seeing the rows before it (two rows of one file cannot record the same consent twice). With
    `dry_run` every row is checked the same way and everything rolled back. `record` keeps an
    ImportRecord (the page's preview checks without one)."""
    result = ImportResult(outcome=ImportRecord.Outcome.REJECTED, rows=len(csv_file.rows))
    started = timezone.now()
    result.errors = check_header(model, csv_file.header)
    if not access.can_anywhere(user, Action.EDIT_CRF):
        result.errors.append(RowError(1, "", _("You may not enter CRF data.")))
    if not result.errors and not csv_file.rows:
        result.errors.append(RowError(2, "", _("The file has no data rows.")))
    fields = {
        "user": user,
        "started_at": started,
        "crf_code": model.crf_code,
        "file_name": csv_file.file_name[:255],
        "sha256": csv_file.sha256,
        "encoding": csv_file.encoding,
        "delimiter": csv_file.delimiter,
        "channel": channel,
        "rows": len(csv_file.rows),
    }
    with audit_context(user=user):
        _run(result, user=user, model=model, csv_file=csv_file, fields=fields, dry_run=dry_run, record=record)
    return result


def _run(
    result: ImportResult,
    *,
    user: User,
    model: type[CrfInstance],
    csv_file: CsvFile,
    fields: dict[str, Any],
    dry_run: bool,
    record: bool,
) -> None:
    if not result.errors:
        try:
            # one transaction; memberships read once (issue 22)
            with transaction.atomic(), access.memberships_read_once():
                kept = ImportRecord.objects.create(**fields, outcome=ImportRecord.Outcome.IMPORTED) if record else None
                with pghistory.context(
                    import_file=csv_file.file_name,
                    import_sha256=csv_file.sha256,
                    import_record=kept.pk if kept else None,
                ):
                    try:
                        _import_rows(
                            result, user=user, model=model, csv_file=csv_file, dry_run=dry_run, savepoints=False
                        )
                    except _SavepointsNeeded:
                        result.errors, result.created, result.updated, result.unchanged = [], [], [], []
                        _import_rows(
                            result, user=user, model=model, csv_file=csv_file, dry_run=dry_run, savepoints=True
                        )
                    if result.errors or dry_run:
                        raise _RollBack
                result.outcome = ImportRecord.Outcome.IMPORTED
                if kept is not None:
                    kept.created = len(result.created)
                    kept.updated = len(result.updated)
                    kept.saved_ids = {"created": result.created, "updated": result.updated}
                    kept.save(update_fields=["created", "updated", "saved_ids"])
                    result.record = kept
        except _RollBack:
            pass
        pghistory.context(reason="", import_row=None)  # the last row's reason is not the record's
    if result.outcome != ImportRecord.Outcome.IMPORTED:
        if dry_run and not result.errors:
            result.outcome = ImportRecord.Outcome.CHECKED
        if record:
            result.record = ImportRecord.objects.create(
                **fields,
                outcome=result.outcome,
                errors=[error.as_dict() for error in result.errors],
                created=len(result.created) if dry_run else 0,
                updated=len(result.updated) if dry_run else 0,
            )
        if not dry_run:
            result.created, result.updated, result.unchanged, result.cleared = [], [], [], []


def _import_rows(
    result: ImportResult,
    *,
    user: User,
    model: type[CrfInstance],
    csv_file: CsvFile,
    dry_run: bool,
    savepoints: bool,
) -> None:
    """One pass over the rows, in one savepoint (taken back when the pass raises), with the work a
    save may do once for all rows (the visits' state and fever course of each subject) done once,
    after the last row (`batched_writes`, issue 22).

    Without `savepoints` the rows are saved one after another with no savepoint of their own: a
    row refused before its save (a cell, the form's validation, the subject, the visit) has
    written nothing, so the report goes on with the next row as it would with a savepoint. A row
    that fails inside its save may have written part of itself: the pass raises
    `_SavepointsNeeded`, and the caller takes it back and runs the file again with a savepoint
    per row (rolled back to when its row fails), which reports every row as before. A savepoint
    per row made every audit-chain head update a subtransaction of its own; PostgreSQL then read
    the head's growing chain of row versions with a subtransaction lookup each (one second of
    server CPU for 1,000 rows, four for 2,000). A file that imports needs no second pass."""
    importer = _Importer(user=user, model=model, csv_file=csv_file)
    with transaction.atomic(), batched_writes() as flush:
        for number, row in csv_file.rows:
            try:
                if savepoints:
                    with transaction.atomic():
                        kind, saved = importer.import_row(number, row)
                else:
                    kind, saved = importer.import_row(number, row)
            except _RowRefused as refused:
                if isinstance(refused, _SaveRefused) and not savepoints:
                    raise _SavepointsNeeded from None
                cells = dict(zip(csv_file.header, row, strict=False))
                result.errors.extend(
                    RowError(e.row, e.field, e.message, cells.get(e.field, "") if e.field else "")
                    for e in refused.errors
                )
                continue
            except DatabaseError:
                if not savepoints:
                    raise _SavepointsNeeded from None
                result.errors.append(
                    RowError(number, "", _("The database refused this row (does it repeat a saved form?)."))
                )
                continue
            entry = {"row": number, "id": saved.pk, "subject": saved.subject_id, "version": saved.version}
            getattr(result, kind).append(entry)
        refused_rows = {error.row for error in result.errors}
        result.cleared = [entry for entry in importer.cleared if entry["row"] not in refused_rows]
        if result.errors or dry_run:
            return  # the caller rolls back
        with pghistory.context(reason=importer.default_reason, import_row=None):
            flush()


def ids_by_kind(result: ImportResult) -> dict[str, list[dict[str, int]]]:
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
