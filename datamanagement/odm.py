"""CDISC ODM 1.3.2 audit-trail export (issue 26 item 4), written with lxml.

A transactional ODM file: `AdminData` names every user (`User`, login name only) and site
(`Location`) the events refer to, and the signature meanings (`SignatureDef`); `ClinicalData`
holds one `SubjectData` per event (subject key = the subject ID, never identity data), down to
`ItemData` per changed field with its `TransactionType` (Insert / Update / Remove) and an
`AuditRecord` (`UserRef`, `LocationRef`, `DateTimeStamp`, `ReasonForChange`, `SourceID` = the
history event). Identity-record values are masked for roles that may not view them (the events
come from datamanagement.audit.describe, which already masks them). Signatures given in the
exported subjects appear as `Signature` on their `SubjectData` (casebook) or `FormData` (form).
The clinical data export of issue 29 (exports.odm) reuses `admin_data` and `signature_element`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from lxml import etree

from datamanagement.models import Signature, SignatureMeaning, SignatureScope
from study.models import Site, Study

NS = "http://www.cdisc.org/ns/odm/v1.3"
ACTIONS = {"insert": "Insert", "update": "Update", "delete": "Remove"}
SYSTEM_USER = "USR.SYSTEM"  # changes made by a command or a background task
NO_SITE = "LOC.NONE"


def _e(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NS}}}{tag}", {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        node.text = text
    return node


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def audit_odm(
    *,
    study: Study,
    events: Iterable[dict[str, Any]],
    subject_codes: dict[int, str],
    signatures: Iterable[Signature] = (),
    users: dict[int, str],
) -> bytes:
    """The ODM document (UTF-8 bytes) of `events` (datamanagement.audit.describe rows)."""
    events = list(events)
    now = timezone.now()
    root, study_node = odm_root(study, file_oid=f"TRIALSITE.AUDIT.{study.code}.{now:%Y%m%dT%H%M%S}", created=now)
    # the forms' metadata is the define.xml's (exports/); the audit trail refers to it by OID
    _e(study_node, "MetaDataVersion", OID="MDV.1", Name="TrialSite audit trail")

    signatures = list(signatures)
    user_ids = {e["user"] for e in events if e["user"] is not None} | {s.signer_id for s in signatures}
    sites = {e["site"] for e in events if e["site"]} | {s.subject.site.code for s in signatures}
    admin_data(
        root,
        study=study,
        user_ids=user_ids,
        users=users,
        site_codes=sites,
        system_user=any(e["user"] is None for e in events),
        no_site=any(not e["site"] for e in events),
        now=now,
    )

    clinical = _e(root, "ClinicalData", StudyOID=f"S.{study.code}", MetaDataVersionOID="MDV.1")
    for event in events:
        subject = _e(clinical, "SubjectData", SubjectKey=subject_codes.get(event["subject"], str(event["subject"])))
        subject.set("TransactionType", "Update" if event["action"] == "update" else "Insert")
        study_event = _e(subject, "StudyEventData", StudyEventOID="SE.AUDIT")
        code = event["form"] or event["model"].split(".")[-1].upper()
        form = _e(study_event, "FormData", FormOID=f"F.{code}", FormRepeatKey=str(event["record_id"]))
        group = _e(form, "ItemGroupData", ItemGroupOID=f"IG.{code}")
        for change in event["changes"]:
            transaction = ACTIONS.get(event["action"], "Update")
            item = _e(group, "ItemData", ItemOID=f"I.{code}.{change['field']}", TransactionType=transaction)
            value = change["old"] if event["action"] == "delete" else change["new"]
            if value is None:
                item.set("IsNull", "Yes")
            else:
                item.set("Value", _value(value))
            record = _e(item, "AuditRecord", EditPoint="DBAudit", UsedImputationMethod="No")
            _e(record, "UserRef", UserOID=f"USR.{event['user']}" if event["user"] is not None else SYSTEM_USER)
            _e(record, "LocationRef", LocationOID=f"LOC.{event['site']}" if event["site"] else NO_SITE)
            _e(record, "DateTimeStamp", event["at"].isoformat())
            if event["reason"]:
                _e(record, "ReasonForChange", event["reason"])
            _e(record, "SourceID", event["id"])
    for signature in signatures:
        subject = _e(clinical, "SubjectData", SubjectKey=signature.subject.subject_id, TransactionType="Upsert")
        target = subject
        if signature.scope == SignatureScope.FORM:
            code = signature.covered[0][0] if signature.covered else "FORM"
            event_node = _e(subject, "StudyEventData", StudyEventOID="SE.AUDIT")
            target = _e(event_node, "FormData", FormOID=f"F.{code}", FormRepeatKey=str(signature.object_id))
        signature_element(target, signature, position=0)  # the first child (no AuditRecord here)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def admin_data(
    root: etree._Element,
    *,
    study: Study,
    user_ids: Iterable[int],
    users: dict[int, str],
    site_codes: Iterable[str],
    system_user: bool,
    no_site: bool,
    now: Any,
) -> etree._Element:
    """`AdminData`: each user by login name only (`USR.<pk>`, `USR.SYSTEM` for commands and
    tasks), each site as a `Location` (`LOC.<code>`), and one `SignatureDef` per meaning. Shared
    by the audit-trail file and the clinical data export (exports.odm, issue 29)."""
    admin = _e(root, "AdminData", StudyOID=f"S.{study.code}")
    for pk in sorted(set(user_ids)):
        _e(_e(admin, "User", OID=f"USR.{pk}"), "LoginName", users.get(pk, str(pk)))
    if system_user:
        _e(_e(admin, "User", OID=SYSTEM_USER), "LoginName", "system")
    codes = set(site_codes)
    locations = [(f"LOC.{site.code}", site.name, "Site") for site in Site.objects.filter(study=study, code__in=codes)]
    if no_site:
        locations.append((NO_SITE, "-", "Other"))
    for oid, name, kind in sorted(locations):
        location = _e(admin, "Location", OID=oid, Name=name, LocationType=kind)
        _e(
            location,
            "MetaDataVersionRef",
            StudyOID=f"S.{study.code}",
            MetaDataVersionOID="MDV.1",
            EffectiveDate=f"{now:%Y-%m-%d}",
        )
    for meaning in SignatureMeaning:
        definition = _e(admin, "SignatureDef", OID=f"SD.{meaning.value}", Methodology="Electronic")
        _e(definition, "Meaning", str(meaning.label))
        _e(definition, "LegalReason", "21 CFR Part 11 electronic signature bound to a SHA-256 of the signed content")
    return admin


def signature_element(target: etree._Element, signature: Signature, position: int | None = None) -> etree._Element:
    """ODM `Signature` (who, where, meaning, when) on `target` (SubjectData, StudyEventData or
    FormData), inserted at `position` among its children or appended."""
    node = etree.Element(f"{{{NS}}}Signature", ID=f"SIG.{signature.pk}")
    if position is None:
        target.append(node)
    else:
        target.insert(position, node)
    _e(node, "UserRef", UserOID=f"USR.{signature.signer_id}")
    _e(node, "LocationRef", LocationOID=f"LOC.{signature.subject.site.code}")
    _e(node, "SignatureRef", SignatureOID=f"SD.{signature.meaning}")
    _e(node, "DateTimeStamp", signature.signed_at.isoformat())
    return node


def odm_root(study: Study, *, file_oid: str, created: Any, **attrs: str) -> tuple[etree._Element, etree._Element]:
    """A transactional ODM 1.3.2 root (`attrs`: more of its attributes) and its `Study` with the
    `GlobalVariables` (code, title, registry id)."""
    root = etree.Element(
        f"{{{NS}}}ODM",
        nsmap={None: NS},
        ODMVersion="1.3.2",
        FileType="Transactional",
        FileOID=file_oid,
        CreationDateTime=created.isoformat(),
        Originator="TrialSite EDC",
        **attrs,
    )
    study_node = _e(root, "Study", OID=f"S.{study.code}")
    variables = _e(study_node, "GlobalVariables")
    _e(variables, "StudyName", study.code)
    _e(variables, "StudyDescription", study.title)
    _e(variables, "ProtocolName", study.registry_id or study.code)
    return root, study_node
