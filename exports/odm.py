"""CDISC ODM 1.3.2 clinical data export (issue 29 item 2): the captured data of a data cut with
their metadata and audit trail, in one transactional ODM file (`clinical_odm.xml`).

It extends the audit-trail writer of issue 26 (datamanagement.odm: the same OIDs for users
`USR.<pk>`, sites `LOC.<code>` and signature meanings `SD.<meaning>`, its `AdminData` and
`Signature` elements), and adds:

- `Study/MetaDataVersion` from the CRF models (crf.registry): `Protocol`, one `StudyEventDef` per
  visit of the schedule (`SE.<visit code>`, plus `SE.NOVISIT` for forms not tied to a visit), one
  `FormDef`/`ItemGroupDef` per CRF (`F.<code>`, `IG.<code>`), one `ItemDef` per field
  (`I.<code>.<column>`, ODM data type from the model field) with its `Question`, and one
  `CodeList` per field with choices (`CL.<code>.<column>`); every text in English and
  Simplified Chinese (`TranslatedText xml:lang="en"` / `"zh"`).
- `ClinicalData`: per subject (`SubjectKey` = the subject ID, or the screening number before
  enrolment) and visit (`StudyEventData`, repeat key = the visit's record id), every form
  instance as `FormData` (repeat key = the form's record id) / `ItemGroupData` / `ItemData`.
  Each field's history up to the snapshot time is written as ItemData in time order — the value
  at its first save (`TransactionType="Insert"`, left out when empty) and each later change
  (`"Update"`, `IsNull="Yes"` when cleared) — each with its `AuditRecord` (user, site, time,
  reason for change, `SourceID` = the history row). The last ItemData of an item is its value at
  the snapshot: `read_values` re-reads the file that way (the round-trip test).
- Signatures valid at the snapshot as `Signature` on the FormData, StudyEventData (visit) or
  SubjectData (casebook) they cover (the latest when several).

The data cut is the datasets' (exports.sdtm.load): forms as they stood at the snapshot time,
read from the audit trail, for the subjects of the export's sites; a form with a clinical date
after the cut-off and a form entered in error are left out. The identity record is not a CRF and
is never read; the infusion checkers' names are not exported (as in the datasets). Bookkeeping
columns (id, subject, visit, version, who/when) are not items: the AuditRecords say who and when.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
from collections import defaultdict
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, BinaryIO

from django.db import models
from django.utils import translation
from lxml import etree

from datamanagement.odm import NS, SYSTEM_USER, _e, admin_data, odm_root, signature_element

FILE_NAME = "clinical_odm.xml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
LANGUAGES = (("en", "en"), ("zh", "zh-hans"))  # (xml:lang, Django language)
#: the CRF base's bookkeeping columns: not items (the AuditRecords say who and when)
NOT_ITEMS = {"id", "subject_id", "visit_id", "version", "created_by_id", "created_at", "updated_by_id", "updated_at"}
#: staff names captured on a form: not exported, as in the datasets (docs/exports.md "Identity data")
NOT_EXPORTED = {"subjects.Infusion": {"checked_by_first", "checked_by_second"}}
NO_VISIT = "NOVISIT"
MDV = "MDV.1"


def _oid(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def data_type(field: models.Field[Any, Any]) -> str:
    """The ODM 1.3.2 DataType of a model field (crf.fields.ODM_DATA_TYPES)."""
    from crf.fields import ODM_DATA_TYPES, type_of

    return type_of(field, ODM_DATA_TYPES)


def _is_json(field: models.Field[Any, Any]) -> bool:
    from django.contrib.postgres.fields import ArrayField

    return isinstance(field, (models.JSONField, ArrayField))


def encode(field: models.Field[Any, Any], value: Any) -> str:
    """A stored value as ODM ItemData/@Value text (JSON and arrays as canonical JSON)."""
    if _is_json(field):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


def decode(field: models.Field[Any, Any], text: str | None) -> Any:
    """The inverse of `encode` (None for IsNull)."""
    if text is None:
        return None
    kind = data_type(field)
    if _is_json(field):
        return json.loads(text)
    if kind == "boolean":
        return text == "true"
    if kind == "integer":
        return int(text)
    if kind == "float":
        return Decimal(text)
    if kind == "double":
        return float(text)
    if kind == "datetime":
        return datetime.fromisoformat(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "time":
        return time.fromisoformat(text)
    return text


def item_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The items of a CRF: its concrete columns but the bookkeeping ones and the staff names, in
    model order."""
    left_out = NOT_ITEMS | NOT_EXPORTED.get(model._meta.label, set())
    return [f for f in model._meta.concrete_fields if f.attname not in left_out]


def crf_forms() -> list[tuple[str, type[models.Model]]]:
    """(code, model) of every CRF in casebook order. The identity record is not among them."""
    from crf.registry import crf_models

    found = crf_models()
    return sorted(found.items(), key=lambda kv: (kv[1].casebook_order, kv[0]))


def _translated(parent: etree._Element, tag: str, texts: dict[str, str]) -> etree._Element:
    node = _e(parent, tag)
    for lang, text in texts.items():
        translated = _e(node, "TranslatedText", text)
        translated.set(XML_LANG, lang)
    return node


def _in_languages(make: Any) -> dict[str, str]:
    out = {}
    for lang, django_lang in LANGUAGES:
        with translation.override(django_lang):
            out[lang] = str(make())
    return out


def _metadata(study_node: etree._Element, forms: list[tuple[str, type[models.Model]]], events: list[Any]) -> None:
    mdv = _e(study_node, "MetaDataVersion", OID=MDV, Name="TrialSite case report forms")
    protocol = _e(mdv, "Protocol")
    for order, (oid, _name, _zh, _forms) in enumerate(events, start=1):
        _e(protocol, "StudyEventRef", StudyEventOID=oid, OrderNumber=str(order), Mandatory="No")
    for oid, name, name_zh, codes in events:
        event = _e(
            mdv,
            "StudyEventDef",
            OID=oid,
            Name=name,
            Repeating="Yes" if oid.endswith(NO_VISIT) else "No",
            Type="Unscheduled" if oid.endswith(NO_VISIT) else "Scheduled",
        )
        _translated(event, "Description", {"en": name, "zh": name_zh or name})
        for order, code in enumerate(codes, start=1):
            _e(event, "FormRef", FormOID=f"F.{code}", OrderNumber=str(order), Mandatory="No")
    for code, model in forms:
        form = _e(
            mdv, "FormDef", OID=f"F.{code}", Name=str(model.crf_title or model._meta.verbose_name), Repeating="Yes"
        )
        _translated(form, "Description", _in_languages(lambda model=model: model._meta.verbose_name))
        _e(form, "ItemGroupRef", ItemGroupOID=f"IG.{code}", Mandatory="Yes")
    for code, model in forms:
        group = _e(mdv, "ItemGroupDef", OID=f"IG.{code}", Name=code, Repeating="No")
        for order, field in enumerate(item_fields(model), start=1):
            _e(group, "ItemRef", ItemOID=f"I.{code}.{field.attname}", OrderNumber=str(order), Mandatory="No")
    codelists: list[tuple[str, models.Field[Any, Any], str]] = []
    for code, model in forms:
        for field in item_fields(model):
            kind = data_type(field)
            item = _e(mdv, "ItemDef", OID=f"I.{code}.{field.attname}", Name=field.attname, DataType=kind)
            if kind == "text" and getattr(field, "max_length", None) and not _is_json(field):
                item.set("Length", str(field.max_length))
            elif kind == "float" and isinstance(field, models.DecimalField):
                item.set("Length", str(field.max_digits))
                item.set("SignificantDigits", str(field.decimal_places))
            question = _in_languages(lambda field=field: field.verbose_name)
            _translated(item, "Question", question)
            if field.choices:
                cl_oid = f"CL.{code}.{field.attname}"
                _e(item, "CodeListRef", CodeListOID=cl_oid)
                codelists.append((cl_oid, field, kind))
    for cl_oid, field, kind in codelists:
        codelist = _e(mdv, "CodeList", OID=cl_oid, Name=cl_oid[3:], DataType=kind if kind != "boolean" else "text")
        for value, _label in field.flatchoices:
            entry = _e(codelist, "CodeListItem", CodedValue=encode(field, value))
            _translated(
                entry,
                "Decode",
                _in_languages(lambda field=field, value=value: dict(field.flatchoices)[value]),
            )


def _versions(model: type[models.Model], at: datetime, subject_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every history row of every form of `model` up to `at`, per form, in the order written."""
    from endpoints.snapshot import event_model

    event = event_model(model)
    event_fields = {f.attname for f in event._meta.concrete_fields}
    names = [f.attname for f in model._meta.concrete_fields if f.attname in event_fields and f.attname != "id"]
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in (
        event.objects.filter(pgh_created_at__lte=at, subject_id__in=subject_ids)
        .order_by("pgh_obj_id", "pgh_created_at", "pgh_id")
        .values("pgh_id", "pgh_obj_id", "pgh_label", "pgh_created_at", "pgh_context", *names)
        .iterator(chunk_size=2000)
    ):
        out[row["pgh_obj_id"]].append(row)
    return out


#: the place of the SubjectData in the serialised head (the only SubjectData of that tree)
_MARKER = "subjects"
#: subjects whose forms are read at a time by write_clinical_odm
CHUNK_SUBJECTS = 100


def clinical_odm(*, study: Any, site_ids: list[int], cutoff: date, at: datetime, created: datetime) -> bytes:
    """The ODM 1.3.2 document (UTF-8 bytes) of the captured data of `study` at `at` for the
    subjects of `site_ids`, forms dated after `cutoff` left out (module docstring). In memory:
    `write_clinical_odm` writes the same bytes to a file a subject at a time."""
    buffer = io.BytesIO()
    write_clinical_odm(buffer, study=study, site_ids=site_ids, cutoff=cutoff, at=at, created=created)
    return buffer.getvalue()


def write_clinical_odm(
    out: BinaryIO,
    *,
    study: Any,
    site_ids: list[int],
    cutoff: date,
    at: datetime,
    created: datetime,
    chunk: int = CHUNK_SUBJECTS,
) -> None:
    """Write `clinical_odm`'s document to `out` (issue 29 item 7: memory flat in the number of
    subjects). The subjects' forms and signatures are read `chunk` subjects at a time and each
    SubjectData is serialised on its own (lxml, pretty-printed at its depth in the document) into
    a scratch file; the metadata and AdminData, which name the visits' forms and the users of
    every subject, are serialised after them, and the document is the head, the SubjectData and
    the tail: byte for byte the document of the whole tree (tests/exports/test_odm.py)."""
    from endpoints import snapshot
    from study.models import Site, User, VisitDefinition
    from subjects.models import Subject

    sites = dict(Site.objects.filter(pk__in=site_ids).values_list("pk", "code"))
    subjects = {
        row["id"]: row
        for row in snapshot.rows_as_of(
            Subject, at, site_id__in=list(sites), fields=["site_id", "subject_id", "screening_number"]
        )
    }
    ids = sorted(subjects)
    definitions = {
        d.pk: d for d in VisitDefinition.objects.filter(study=study).order_by("order", "pk")
    }  # the schedule, in order
    forms = crf_forms()
    order = {code: n for n, (code, _m) in enumerate(forms)}
    seen = _Seen()
    with tempfile.TemporaryFile() as body:
        for start in range(0, len(ids), chunk):
            _subject_data(
                body,
                ids[start : start + chunk],
                subjects=subjects,
                sites=sites,
                definitions=definitions,
                forms=forms,
                order=order,
                cutoff=cutoff,
                at=at,
                seen=seen,
            )
        events = [
            (
                f"SE.{_oid(d.code)}",
                d.name,
                d.name_zh,
                sorted(seen.forms_of_event.get(d.pk, ()), key=order.__getitem__),
            )
            for d in definitions.values()
        ]
        if None in seen.forms_of_event:
            events.append(
                (
                    f"SE.{NO_VISIT}",
                    "Not tied to a visit",
                    "未关联访视",
                    sorted(seen.forms_of_event[None], key=order.__getitem__),
                )
            )
        root, study_node = odm_root(
            study,
            file_oid=_oid(f"TRIALSITE.CLINICAL.{study.code}.{at:%Y%m%dT%H%M%S}"),
            created=created,
            Granularity="All",
            AsOfDateTime=at.isoformat(),
        )
        _metadata(study_node, forms, events)
        users = dict(User.objects.filter(pk__in=seen.user_ids).values_list("pk", "username"))
        admin_data(
            root,
            study=study,
            user_ids=seen.user_ids,
            users=users,
            site_codes=set(sites.values()),
            system_user=seen.system_user,
            no_site=False,
            now=at,
        )
        clinical = _e(root, "ClinicalData", StudyOID=f"S.{study.code}", MetaDataVersionOID=MDV)
        if not body.tell():  # no SubjectData: <ClinicalData .../> as the whole tree writes it
            out.write(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
            return
        _e(clinical, "SubjectData", SubjectKey=_MARKER)
        document = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        del root, study_node, clinical
        marker = document.index(f'<SubjectData SubjectKey="{_MARKER}"/>'.encode())
        line_start = document.rindex(b"\n", 0, marker) + 1
        line_end = document.index(b"\n", marker) + 1
        out.write(document[:line_start])
        body.seek(0)
        shutil.copyfileobj(body, out, 1 << 20)
        out.write(document[line_end:])


class _Seen:
    """What the metadata and AdminData need from every subject's data: each visit's forms, the
    users named by an AuditRecord or a Signature, whether the system wrote anything."""

    def __init__(self) -> None:
        self.forms_of_event: dict[int | None, set[str]] = defaultdict(set)
        self.user_ids: set[int] = set()
        self.system_user = False


def _subject_data(
    body: BinaryIO,
    chunk_ids: list[int],
    *,
    subjects: dict[int, dict[str, Any]],
    sites: dict[int, str],
    definitions: dict[int, Any],
    forms: list[tuple[str, type[models.Model]]],
    order: dict[str, int],
    cutoff: date,
    at: datetime,
    seen: _Seen,
) -> None:
    """The SubjectData of the subjects `chunk_ids` (in that order), serialised to `body`."""
    from datamanagement.models import Signature, SignatureScope
    from endpoints import snapshot
    from subjects.models import Visit

    visits = {row["id"]: row for row in snapshot.rows_as_of(Visit, at, subject_id__in=chunk_ids)}
    # form instances: {(subject, visit or None): [(code, model, versions)]}
    placed: dict[int, dict[int | None, list[tuple[str, type[models.Model], list[dict[str, Any]]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for code, model in forms:
        date_field = getattr(model, "clinical_date_field", "")
        for _pk, versions in _versions(model, at, chunk_ids).items():
            last = versions[-1]
            if last["pgh_label"] == "delete" or last.get("entered_in_error"):
                continue
            clinical = last.get(date_field) if date_field else None
            if isinstance(clinical, datetime):
                clinical = clinical.date()
            if isinstance(clinical, date) and clinical > cutoff:
                continue
            visit = visits.get(last.get("visit_id"))
            definition_id = visit["definition_id"] if visit else None
            placed[last["subject_id"]][last.get("visit_id") if visit else None].append((code, model, versions))
            seen.forms_of_event[definition_id].add(code)
            for row in versions:
                user = (row["pgh_context"] or {}).get("user")
                if isinstance(user, int) or (isinstance(user, str) and user.isdigit()):
                    seen.user_ids.add(int(user))
                else:
                    seen.system_user = True

    signatures: dict[tuple[str, Any], Signature] = {}
    for signature in (
        Signature.objects.filter(subject_id__in=chunk_ids, signed_at__lte=at)
        .select_related("subject__site", "content_type")
        .order_by("signed_at", "pk")
    ):
        if signature.broken_at is not None and signature.broken_at <= at:
            continue  # no longer valid at the snapshot
        if signature.scope == SignatureScope.FORM:
            key: tuple[str, Any] = ("form", (signature.content_type.model_class(), signature.object_id))
        elif signature.scope == SignatureScope.VISIT:
            key = ("visit", signature.visit_id)
        else:
            key = ("casebook", signature.subject_id)
        signatures[key] = signature  # the latest wins
        seen.user_ids.add(signature.signer_id)

    definition_order = {pk: n for n, pk in enumerate(definitions)}

    def visit_key(visit_pk: int | None) -> tuple[int, Any, int]:
        if visit_pk is None:
            return (1, None, 0)
        v = visits[visit_pk]
        return (0, definition_order.get(v["definition_id"], 0), visit_pk)

    blocks: list[bytes] = []  # a subject's forms' ItemData, as serialised (`_items_xml`)
    for subject_pk in chunk_ids:
        if subject_pk not in placed and ("casebook", subject_pk) not in signatures:
            continue
        subject = subjects[subject_pk]
        location = f"LOC.{sites[subject['site_id']]}"
        # the SubjectData at its depth (ODM/ClinicalData/SubjectData): pretty-printed as in the whole tree
        wrapper = etree.Element(f"{{{NS}}}ODM", nsmap={None: NS})
        subject_node = _e(
            _e(wrapper, "ClinicalData"),
            "SubjectData",
            SubjectKey=subject["subject_id"] or subject["screening_number"] or str(subject_pk),
            TransactionType="Upsert",
        )
        if ("casebook", subject_pk) in signatures:
            signature_element(subject_node, signatures[("casebook", subject_pk)])
        _e(subject_node, "SiteRef", LocationOID=location)
        by_visit = placed.pop(subject_pk, {})
        for visit_pk in sorted(by_visit, key=visit_key):
            if visit_pk is None:
                event_node = _e(subject_node, "StudyEventData", StudyEventOID=f"SE.{NO_VISIT}", StudyEventRepeatKey="1")
            else:
                definition = definitions[visits[visit_pk]["definition_id"]]
                event_node = _e(
                    subject_node,
                    "StudyEventData",
                    StudyEventOID=f"SE.{_oid(definition.code)}",
                    StudyEventRepeatKey=str(visit_pk),
                )
                if ("visit", visit_pk) in signatures:
                    signature_element(event_node, signatures[("visit", visit_pk)])
            event_node.set("TransactionType", "Upsert")
            for code, model, versions in sorted(
                by_visit[visit_pk], key=lambda f: (order[f[0]], f[2][-1]["pgh_obj_id"])
            ):
                form_pk = versions[-1]["pgh_obj_id"]
                form_node = _e(
                    event_node, "FormData", FormOID=f"F.{code}", FormRepeatKey=str(form_pk), TransactionType="Upsert"
                )
                if ("form", (model, form_pk)) in signatures:
                    signature_element(form_node, signatures[("form", (model, form_pk))])
                group = _e(form_node, "ItemGroupData", ItemGroupOID=f"IG.{code}", TransactionType="Upsert")
                items = _items_xml(code, model, versions, location)
                if items:  # its place in the serialised tree (no ItemData: <ItemGroupData …/>)
                    etree.SubElement(group, _ITEMS_HERE)
                    blocks.append(items)
        text = etree.tostring(wrapper, encoding="UTF-8", xml_declaration=False, pretty_print=True)
        # the lines between "<ODM …>\n  <ClinicalData>\n" and "  </ClinicalData>\n</ODM>\n"
        text = text[text.index(b"\n", text.index(b"\n") + 1) + 1 : text.rindex(b"  </ClinicalData>")]
        pieces = _ITEMS_LINE.split(text)
        body.write(pieces[0])
        for items, after in zip(blocks, pieces[1:], strict=True):
            body.write(items)
            body.write(after)
        blocks.clear()


def _empty(field: models.Field[Any, Any], value: Any) -> bool:
    """A value left out at a form's first save (`empty_value` gives it back on reading)."""
    return value is None or (value == empty_value(field) and not isinstance(value, bool))


def empty_value(field: models.Field[Any, Any]) -> Any:
    """The value of an item with no ItemData: "" for a text column that cannot be null, the
    default of a JSON column ({} or []), else None."""
    if _is_json(field):
        return field.get_default()
    if data_type(field) == "text" and not field.null:
        return ""
    return None


#: the place of a form's ItemData in its serialised SubjectData (a line of its own, replaced)
_ITEMS_HERE = f"{{{NS}}}TrialSiteItems"
_ITEMS_LINE = re.compile(rb"^ *<TrialSiteItems/>\n", re.MULTILINE)
#: text written as it is by lxml in an attribute value and in a text node (no escaping)
_PLAIN_TEXT = re.compile(r"[ !#-%(-;=?-~]*")
_PROBE = f"{{{NS}}}P"


def _attribute(value: str) -> str:
    """`value` as lxml writes it in an attribute of the document (UTF-8): the text as it is when
    nothing needs escaping, else lxml's own serialisation (ValueError for characters XML forbids,
    as lxml raises them)."""
    if _PLAIN_TEXT.fullmatch(value):
        return value
    written = etree.tostring(etree.Element(_PROBE, {"v": value}, nsmap={None: NS}), encoding="UTF-8").decode()
    return written[written.index(' v="') + 4 : written.rindex('"')]


def _text(value: str) -> str:
    """`value` as lxml writes it as an element's text (see `_attribute`)."""
    if _PLAIN_TEXT.fullmatch(value):
        return value
    node = etree.Element(_PROBE, nsmap={None: NS})
    node.text = value
    written = etree.tostring(node, encoding="UTF-8").decode()
    return written[written.index(">") + 1 : written.rindex("</")]


def _item_plan(code: str, model: type[models.Model]) -> list[tuple[str, str, bool, Any, models.Field[Any, Any]]]:
    """Per item of a CRF, what `_items_xml` needs of its field, worked out once: (column,
    ItemOID, JSON or array?, the value left out at the first save, the field)."""
    return [
        (field.attname, f"I.{code}.{field.attname}", _is_json(field), empty_value(field), field)
        for field in item_fields(model)
    ]


_PLANS: dict[tuple[str, type[models.Model]], list[tuple[str, str, bool, Any, models.Field[Any, Any]]]] = {}
#: the ItemData of a form as lxml pretty-prints them at their depth (ODM/ClinicalData/SubjectData/
#: StudyEventData/FormData/ItemGroupData/ItemData: 12 spaces)
_I6, _I7, _I8 = " " * 12, " " * 14, " " * 16


def _items_xml(code: str, model: type[models.Model], versions: list[dict[str, Any]], location: str) -> bytes:
    """Each item's history: its first non-empty value (Insert) and every later change (Update),
    each ItemData with its AuditRecord, written as lxml writes these elements in the document
    (issue 29 item 7: millions of them; written as text, not made as elements). b"" for none."""
    plan = _PLANS.get((code, model))
    if plan is None:
        plan = _PLANS[(code, model)] = _item_plan(code, model)
    source = f"{model._meta.label}Event:"
    live = [row for row in versions if row["pgh_label"] != "delete"]
    location_ref = f'{_I8}<LocationRef LocationOID="{_attribute(location)}"/>\n'
    out: list[str] = []
    for name, item_oid, is_json, empty, field in plan:
        written = False
        previous: Any = None
        for row in live:
            value = row.get(name)
            if not written and (value is None or (value == empty and not isinstance(value, bool))):
                previous = value
                continue
            if written and value == previous:
                continue
            kind = "Update" if written else "Insert"
            written, previous = True, value
            if value is None:
                shown = 'IsNull="Yes"'
            else:
                shown = f'Value="{_attribute(encode(field, value) if is_json or type(value) is not str else value)}"'
            context = row["pgh_context"] or {}
            user = context.get("user")
            is_user = isinstance(user, int) or (isinstance(user, str) and user.isdigit())
            reason = context.get("reason")
            out.append(
                f'{_I6}<ItemData ItemOID="{_attribute(item_oid)}" TransactionType="{kind}" {shown}>\n'
                f'{_I7}<AuditRecord EditPoint="DBAudit" UsedImputationMethod="No">\n'
                f'{_I8}<UserRef UserOID="{f"USR.{int(user)}" if is_user else SYSTEM_USER}"/>\n'
                f"{location_ref}"
                f"{_I8}<DateTimeStamp>{_text(row['pgh_created_at'].isoformat())}</DateTimeStamp>\n"
                + (f"{_I8}<ReasonForChange>{_text(str(reason))}</ReasonForChange>\n" if reason else "")
                + f"{_I8}<SourceID>{_text(source + str(row['pgh_id']))}</SourceID>\n"
                f"{_I7}</AuditRecord>\n"
                f"{_I6}</ItemData>\n"
            )
    return "".join(out).encode("utf-8")


def read_values(document: bytes) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Re-read an ODM file written by `clinical_odm`: {(subject key, form code, form record id):
    {column: value}} with each item's last ItemData (its value at the snapshot), typed back from
    the model field; a column with no ItemData is empty (None). The round-trip test compares
    this with the database."""
    tree = etree.fromstring(document)
    ns = {"odm": NS}
    models_by_code = dict(crf_forms())
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for subject in tree.iterfind("odm:ClinicalData/odm:SubjectData", ns):
        key = subject.get("SubjectKey")
        for form in subject.iterfind("odm:StudyEventData/odm:FormData", ns):
            code = form.get("FormOID")[2:]
            model = models_by_code[code]
            fields = {f.attname: f for f in item_fields(model)}
            values: dict[str, Any] = {name: empty_value(field) for name, field in fields.items()}
            for item in form.iterfind("odm:ItemGroupData/odm:ItemData", ns):
                name = item.get("ItemOID")[len(f"I.{code}.") :]
                text = None if item.get("IsNull") == "Yes" else item.get("Value")
                values[name] = decode(fields[name], text)
            out[(key, code, int(form.get("FormRepeatKey")))] = values
    return out
