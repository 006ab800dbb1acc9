"""How a stored value, a time and a name are shown to a person (issue 25): one place, used by the
form and verification pages, record history, queries, alerts, e-mails and the PDFs to come.

Contract — every function returns text in the language active when it is called (call it
inside `translation.override(lang)` for e-mails and PDFs) and never a Python repr:

- `value_text(value, field=..., day0=...)`: a stored value as its label. Choices by their label,
  booleans as Yes/No (是/否), lists joined by their labels, decimals with the unit named in the
  field's label ("volume infused (mL)" → "12.5 mL"), a visit by its name and study day, a
  partial date as entered, dates as `YYYY-MM-DD`, instants through `when`, blanks as "—".
- `field_text(instance, name)`: the same for one field of a model instance; a value recorded as
  not done / unknown (`CrfInstance.missing`) shows that code's label.
- `when(at, zone=None, seconds=False)`: an instant in a zone with the zone named —
  `2026-12-06 11:22 +08:00`, or `2026-12-06 03:22 UTC`. Without `zone` it uses the reader's
  zone (`reader_zone_var`, set per request by `trialsite.middleware.UserLocaleMiddleware` from
  the reader's first active site), else UTC: a user without a site reads UTC, labelled UTC.
- Names of the study's own things in the reader's language — `name_of(obj)` (sites, studies,
  schedule visits, dose levels) and `dose_level_name(code, study)` — live with the study, in
  `study/language.py`, so study's own pages show them too (issue 23); this module uses them.

Template side: `{% load display %}` then `{{ instance|shown:"field" }}`, `{{ value|value_text }}`,
`{{ at|when }}`, `{{ at|when_precise }}` (with seconds), `{{ at|when_in:site.time_zone }}`,
`{{ site|name_of }}`, `{{ subject|dose_level }}` / `{{ code|dose_level:study }}`
(crf/templatetags/display.py). Pure formatting: no queries beyond following
a foreign key the caller has not loaded (select_related it on list pages).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clinical.schedule import study_day
from crf import hooks
from study import system_text
from study.language import EMPTY, ctcae_term_label, dose_level_name, name_of, soc_label

#: The reader's time zone for this request: a zone, or a callable giving it (looked up on first
#: use, so a page without times costs no query); None: no reader, so UTC.
reader_zone_var: contextvars.ContextVar[tzinfo | Callable[[], tzinfo] | None] = contextvars.ContextVar(
    "reader_zone", default=None
)

# A unit at the end of a field label: "(mL)", "(×10⁶/kg)", "（%）" — one token, no spaces.
_UNIT = re.compile(r"[(（]\s*([^()（）\s]{1,16})\s*[)）]\s*$")


# --- times ---------------------------------------------------------------------------------------


def zone_named(name: str | None) -> tzinfo:
    """The zone of an IANA name (a site's `time_zone`), UTC when blank or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_of_user(user: Any) -> tzinfo:
    """The zone of the user's first active site (by membership id), UTC without one."""
    if user is None or not getattr(user, "is_authenticated", False):
        return UTC
    membership = (
        user.memberships.filter(ended_at__isnull=True).select_related("site").order_by("pk").only("site__time_zone")
    ).first()
    return UTC if membership is None else zone_named(membership.site.time_zone)


def reader_zone() -> tzinfo:
    """The zone of this request's reader (see `reader_zone_var`), UTC without one."""
    found = reader_zone_var.get()
    if callable(found):
        found = found()
    return found or UTC


def lazy_zone_of_user(user: Any) -> Callable[[], tzinfo]:
    """`zone_of_user(user)`, looked up once on first call."""
    cache: list[tzinfo] = []

    def resolve() -> tzinfo:
        if not cache:
            cache.append(zone_of_user(user))
        return cache[0]

    return resolve


def zone_label(local: datetime) -> str:
    """`UTC` for UTC, else the offset as `+08:00` / `-05:00`."""
    offset = local.utcoffset()
    if offset is None or (offset.total_seconds() == 0 and local.tzinfo in (UTC, ZoneInfo("UTC"))):
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def when(at: datetime | None, zone: tzinfo | str | None = None, *, seconds: bool = False) -> str:
    """An instant as `YYYY-MM-DD HH:MM <zone>` (see the module docstring)."""
    if at is None or at == "":
        return EMPTY
    if not isinstance(at, datetime):
        return value_text(at)
    if isinstance(zone, str):
        zone = zone_named(zone)
    if zone is None:
        zone = reader_zone()
    if timezone.is_naive(at):  # never stored so; read as UTC rather than fail a page
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(zone)
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {zone_label(local)}"


# --- visits ----------------------------------------------------------------------------------------


def visit_text(visit: Any) -> str:
    """A visit by its name and study day: "Day 14 (day 14)", "Screening"."""
    definition = getattr(visit, "definition", visit)
    name = name_of(definition)
    day = getattr(definition, "day", None)
    anchor = getattr(definition, "anchor", "")
    if day is None or anchor != "infusion" or str(abs(day)) in name:  # "Day 14" names its day already
        return name
    return f"{name} ({day_text(day)})"


def day_text(day: int) -> str:
    """ "day −1", "day 0", "day 14" (a true minus sign)."""
    return _("day %(day)s") % {"day": str(day).replace("-", "\u2212")}


# --- values --------------------------------------------------------------------------------------


def yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def unit_of(field: models.Field | None) -> str:  # type: ignore[type-arg]
    """The unit named at the end of a field's label, or ""."""
    if field is None:
        return ""
    found = _UNIT.search(str(getattr(field, "verbose_name", "")))
    if not found or not any(ch.isalpha() or ch in "%×⁶⁹" for ch in found.group(1)):
        return ""
    return found.group(1)


#: keys a choice field stored before they were renamed, per field name → the key it now has:
#: history rows keep the old key and are shown with the new key's label (e.g. the vital-signs
#: oxygen devices merged into one list with the CRS form's, issue 24)
RETIRED_KEYS: dict[str, dict[str, str]] = {}


def retire_keys(field_name: str, renamed: dict[str, str]) -> None:
    RETIRED_KEYS.setdefault(field_name, {}).update(renamed)


def _choice_labels(field: Any) -> dict[Any, str]:
    flat = getattr(field, "flatchoices", None) or []
    labels = {key: str(label) for key, label in flat}
    for old, new in RETIRED_KEYS.get(getattr(field, "name", ""), {}).items():
        if old not in labels and new in labels:
            labels[old] = labels[new]
    return labels


def value_text(value: Any, field: Any = None, *, day0: date | None = None) -> str:
    """A stored value as a person reads it (see the module docstring)."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if hasattr(field, "display_text"):  # a field that knows how its structure reads
        return str(field.display_text(value, day0=day0))
    base = getattr(field, "base_field", None)  # ArrayField: its items carry the choices
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [value_text(item, base if base is not None else field, day0=day0) for item in value]
        return ", ".join(i for i in items if i != EMPTY) or EMPTY
    if isinstance(value, bool):
        return yes_no(value)
    labels = _choice_labels(field) if field is not None else {}
    if labels and value in labels:
        return labels[value]
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {value_text(v)}" for k, v in value.items()) or EMPTY
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, date):
        if day0 is not None:
            return f"{value.isoformat()} ({day_text(study_day(value, day0))})"
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, (Decimal, float, int)):
        unit = unit_of(field)
        places = getattr(field, "decimal_places", None)
        if isinstance(value, float) and places is not None:  # a decimal read back from JSON (history)
            value = Decimal(str(value))
        if isinstance(value, Decimal) and places is not None:
            value = value.quantize(Decimal(1).scaleb(-places))
        number = format(value, "f") if isinstance(value, Decimal) else str(value)
        return f"{number} {unit}" if unit else number
    if isinstance(value, models.Model):
        if value._meta.model_name == "visit":
            return visit_text(value)
        if value._meta.label == "contenttypes.ContentType":  # a record's form (a query's)
            return form_name(value.model_class()) or value.model  # type: ignore[attr-defined]
        return name_of(value) if hasattr(value, "name_zh") or hasattr(value, "title_zh") else str(value)
    return str(value)


def form_name(model: type[models.Model] | None) -> str:
    """A form (or other record type) by its title in the reader's language: not Django's
    `ContentType` text, which puts the app's English name before it ("Labs | …")."""
    if model is None:
        return ""
    return str(getattr(model, "crf_title", "") or model._meta.verbose_name)


def record_name(obj: models.Model) -> str:
    """A subject's record as another record's history names it (a DLT candidate's adverse event,
    an assessment's episode): its type in the reader's language and its number, with an adverse
    event's CTCAE term or the record's clinical date; never its developer's `__str__` ("YD-021
    CRS episode 1")."""
    name = f"{obj._meta.verbose_name} #{obj.pk}"
    term = getattr(obj, "ctcae_term", "")
    if isinstance(term, str) and term:
        return f"{name} · {ctcae_term_label(term)}"
    clinical_date = obj.clinical_date() if callable(getattr(obj, "clinical_date", None)) else None
    return f"{name} · {value_text(clinical_date)}" if clinical_date else name


def anc_values_text(values: Any) -> str:
    """The ANC values an ICAHT derivation used ([{"result", "date", "day", "anc"}], ×10⁹/L):
    "2026-10-29 (day −14): 2 ×10⁹/L; …", not their stored keys."""
    if not isinstance(values, list):
        return value_text(values)
    shown = []
    for item in values:
        if not isinstance(item, Mapping):
            shown.append(value_text(item))
            continue
        when_ = str(item.get("date", ""))
        if item.get("day") is not None:
            when_ = f"{when_} ({day_text(int(item['day']))})"
        shown.append(f"{when_}: {item.get('anc', EMPTY)} ×10⁹/L")
    return "; ".join(shown) or EMPTY


def labelled_inputs(source: str, extra: Mapping[str, str]) -> Callable[[Any], str]:
    """How a derivation's inputs (a JSON object) read: each key by the label of the field of that
    name on the model `source` ("app.Model"), else by `extra`'s label (a msgid), else as stored;
    each value as that field shows it (choices by their labels, Yes/No)."""

    def text(value: Any) -> str:
        if not isinstance(value, Mapping):
            return value_text(value)
        from django.apps import apps  # at call time: this module loads before the app registry

        fields = {f.name: f for f in apps.get_model(source)._meta.concrete_fields}
        parts = []
        for key, item in value.items():
            field = fields.get(key)
            name = str(field.verbose_name) if field is not None else (_(extra[key]) if key in extra else key)
            parts.append(f"{name}: {value_text(item, field)}")
        return "; ".join(parts) or EMPTY

    return text


#: The inputs a marrow assessment's response was derived from (response.derive) that are not the
#: assessment's own fields: the protocol settings' thresholds and what the derivation looked up.
RESPONSE_INPUTS = {
    "mrd_tests": gettext_noop("MRD tests"),
    "first_lymphodepletion": gettext_noop("Lymphodepletion started"),
    "count_operator": gettext_noop("Count criteria operator (ANC, platelets)"),
    "relapse_operator": gettext_noop("Relapse threshold operator"),
    "relapse_threshold_pct": gettext_noop("Relapse threshold, marrow blasts (%)"),
    "mrd_cutoff_pct": gettext_noop("MRD-negative cut-off (%)"),
    "mrd_min_cells_flow": gettext_noop("Flow MRD: minimum cells analysed"),
    "baseline_assessment": gettext_noop("baseline assessment (before lymphodepletion)"),
    "prior_remission": gettext_noop("remission before this assessment"),
}

#: Structured (JSON) columns shown by their own rule, by model label and field name.
STRUCTURED_TEXT: dict[tuple[str, str], Callable[[Any], str]] = {
    ("adverse_events.IcahtDerivation", "inputs"): anc_values_text,
    ("response.MarrowAssessment", "derivation_inputs"): labelled_inputs("response.MarrowAssessment", RESPONSE_INPUTS),
}


def response_label_text(label: str) -> str:
    """A derived response with MRD ("CR MRD−", "CR, MRD unknown", "relapse"; clinical.response
    .response_label) in the reader's language: the category by its label, MRD as written. The
    categories are response/'s, so the text comes through the hook `crf.hooks.response_label_text`."""
    return str(hooks.response_label_text(label=label))


#: The closing notes the system writes on a query it closes or cancels, stored as their English
#: message id (before 2026-12-07 in the language of whoever saved: English or Chinese).
SYSTEM_CLOSE_NOTES = (
    gettext_noop("The rule no longer fires."),
    gettext_noop("The form was entered in error."),
)


def close_note_text(value: str) -> str:
    """A query's closing note in the reader's language when the system wrote it (in either
    language); a person's own note as written."""
    for msgid in SYSTEM_CLOSE_NOTES:
        if value == msgid:
            return _(msgid)
        with translation.override("zh-hans"):
            chinese = _(msgid)
        if value == chinese:
            return _(msgid)
    return value


#: The grading and response criteria a derivation names in its `criteria` column, by their names
#: (an unknown one shows as stored).
CRITERIA_NAMES = {
    "ASTCT-2019": gettext_noop("ASTCT 2019 consensus"),
    "MAGIC-2016": gettext_noop("MAGIC 2016 criteria"),
    "EHA-EBMT-2023": gettext_noop("EHA/EBMT 2023 consensus"),
    "CLINICAL_SPEC-5-v1": gettext_noop("Protocol response criteria, version 1"),
}


def _named(names: dict[str, str]) -> Callable[[str], str]:
    """A stored code's name from `names` in the reader's language (an unknown code as stored)."""

    def text(value: str) -> str:
        return _(names[value]) if value in names else value

    return text


#: A derivation's criteria ("ASTCT-2019") by their name in the reader's language.
criteria_text = _named(CRITERIA_NAMES)

#: A visit's expected forms as a whole (`Visit.forms_state`, clinical.assessments.Progress).
FORMS_STATES = {
    "none": gettext_noop("not started"),
    "some": gettext_noop("in progress"),
    "all": gettext_noop("complete"),
}

forms_state_text = _named(FORMS_STATES)


#: Text fields holding a composed label rather than a choice key, and how to read them.
COMPOSED_LABELS = {
    "criteria": criteria_text,
    "criteria_version": criteria_text,
    "forms_state": forms_state_text,
    # a query's closing note: the system's own in the reader's language
    "close_reason": close_note_text,
    "response_label": response_label_text,
    # the English CTCAE term, its Chinese name beside it for a Chinese reader (casebook, history, PDF)
    "ctcae_term": ctcae_term_label,
    # its system organ class likewise (the project's working translation)
    "soc": soc_label,
}


def field_text(instance: models.Model, name: str, *, day0: date | None = None) -> str:
    """One field of a model instance as a person reads it; a foreign key by its object, a value
    recorded as not done / unknown by that label."""
    try:
        field = instance._meta.get_field(name)
    except Exception:  # not a model field: a form-only value
        return value_text(getattr(instance, name, None), day0=day0)
    value = getattr(instance, field.name, None)
    if value in (None, "", [], {}):
        code = (getattr(instance, "missing", None) or {}).get(field.name)
        if code:
            # not at import: trialsite.middleware imports this module while logging is configured,
            # before the app registry is ready (a model import there fails)
            from crf.models import MissingCode

            return str(dict(MissingCode.choices).get(code, code))
    if isinstance(value, str) and value and field.name in COMPOSED_LABELS:
        return COMPOSED_LABELS[field.name](value)
    if field.name == DOSE_LEVEL_FIELD and value:
        return dose_level_name(value, _study_of(instance))
    return value_text(value, field, day0=day0)


#: A field holding a dose level's code (Subject, PendingEnrolment, Infusion): shown by its name.
DOSE_LEVEL_FIELD = "dose_level"


def _study_of(instance: models.Model) -> int | None:
    """The study id of a subject's record (or of the subject itself)."""
    subject = instance if hasattr(instance, "site_id") and hasattr(instance, "dose_level") else None
    subject = subject or getattr(instance, "subject", None)
    site = getattr(subject, "site", None)
    return getattr(site, "study_id", None)


def rows_of(instance: models.Model, names: Iterable[str], *, day0: date | None = None) -> list[tuple[str, str]]:
    """(label, shown value) of each named field, for read-only tables and PDFs."""
    rows = []
    for name in names:
        try:
            label = str(instance._meta.get_field(name).verbose_name)
        except Exception:
            label = name
        rows.append((label[:1].upper() + label[1:], field_text(instance, name, day0=day0)))
    return rows


# --- system messages -----------------------------------------------------------------------------


def system_message(obj: Any, name: str) -> str:
    """A text the system wrote on `obj.<name>`, in the reader's language: rendered from
    `<name>_code` and `<name>_params` when stored as a code (study.system_text), else the
    text as written (by a person, or before codes were stored)."""

    code = getattr(obj, f"{name}_code", "")
    if code:
        return render_message(code, getattr(obj, f"{name}_params", None))
    return str(getattr(obj, name, "") or "")


def render_message(code: str, params: Mapping[str, Any] | None) -> str:
    """A stored message in the reader's language. A parameter that is itself a message
    ({"code": …, "params": …}, e.g. the DLT finding inside a confirmed-DLT alert) is rendered in
    the same language first. A CTCAE term parameter (`term`: a DLT finding's, the SAE alert's) is
    named as `ctcae_term_label` names it: a DLT finding (`adverse_events.dlt_text`) renders here as
    any other message."""
    shown = {}
    for key, value in (params or {}).items():
        if isinstance(value, Mapping) and "code" in value:
            value = render_message(str(value["code"]), value.get("params"))
        shown[key] = value
    if isinstance(shown.get("term"), str):  # a message's `term` is a CTCAE term
        shown["term"] = ctcae_term_label(shown["term"])
    return system_text.render(code, shown)


def reason_text(context: dict[str, object]) -> str:
    """The reason of one history row's context in the reader's language: rendered from its code
    and parameters when the system wrote it as a message; a reason written before codes were
    stored reads in the reader's language when the catalogue holds it; a person's as written."""
    code = context.get("reason_code")
    if code:
        params = context.get("reason_params")
        return render_message(str(code), params if isinstance(params, dict) else None)
    return system_text.in_reader_language(str(context.get("reason", "")))


# --- CTCAE in the reader's language --------------------------------------------------------------
