"""SDTM (SDTMIG 3.4) datasets from the captured data: DM, EX, AE, CM, DS, LB, VS, MH and their
SUPP-- (CLINICAL_SPEC §9).

The data are read ONCE per export (`load`), from the audit trail as they stood at the export's
snapshot time (endpoints.snapshot.rows_as_of: a reproducible data cut), and limited to the
subjects of the sites the export covers; records dated after the clinical cut-off date are left
out (an AE resolved after the cut-off is ongoing at the cut). The builders are pure functions of
that data: no query per subject.

Conventions (each dataset carries them in its notes, docs/exports.md lists them):
- USUBJID = STUDYID-SITEID-SUBJID. Identity data (name, birth date, hospital number, phone) are
  never read: the identity record is not among the inputs; AGE comes from the demographics form.
- RFSTDTC = first CAR-T infusion start; RFXSTDTC = earliest EXSTDTC (the first lymphodepletion
  dose, lymphodepletion being in EX). --DY is SDTM's study day (no day 0; day 1 = RFSTDTC's
  date). The clinical Day-0 clock (first infusion day = day 0, CLINICAL_SPEC §9, DESIGN §4) is
  in SUPP-- as `<--STDY0>`-style qualifiers labelled "Day-0 clock".
- AETOXGR holds the grade number; its scale (CTCAE v5.0, or ASTCT 2019 for the CRS and ICANS
  AEs the system keeps in step with their episodes) is in SUPPAE.TOXGRSCL and the define file.
- Text is ASCII (exports.datasets.ascii_text); a verbatim left empty by that (e.g. Chinese only)
  falls back to the coded English term; every changed value is counted in the report.
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import compress, repeat
from typing import Any
from zoneinfo import ZoneInfo

from clinical import ae_course
from exports.datasets import (
    BuildContext,
    ColumnRows,
    Dataset,
    ascii_text,
    iso,
    make_dataset,
    permuted,
    register,
    sequence_numbers,
)
from exports.metadata import SDTMIG

DAY_CONVENTION = (
    "--DY: SDTM study day (no day 0; day 1 = date of RFSTDTC, the first CAR-T infusion). "
    "The clinical Day-0 clock (infusion day = day 0) is in SUPP-- (QNAM ending in DY0)."
)
#: Site time zone → ISO 3166-1 alpha-3 country (DM.COUNTRY). A site in a zone not listed here
#: has no COUNTRY and the export reports the required variable as missing.
COUNTRY_BY_TIME_ZONE = {
    "Asia/Shanghai": "CHN",
    "Asia/Chongqing": "CHN",
    "Asia/Harbin": "CHN",
    "Asia/Urumqi": "CHN",
    "Asia/Hong_Kong": "HKG",
    "Asia/Taipei": "TWN",
    "Asia/Singapore": "SGP",
    "Asia/Tokyo": "JPN",
    "Asia/Seoul": "KOR",
    "Europe/London": "GBR",
    "Europe/Berlin": "DEU",
    "Europe/Paris": "FRA",
    "America/New_York": "USA",
    "America/Chicago": "USA",
    "America/Los_Angeles": "USA",
    "UTC": "",
}
CAR_T = "CD7 CAR-T CELLS"


@dataclass
class ExportData:
    """Everything the SDTM builders read, loaded once (`load`)."""

    study_code: str
    cutoff: date
    sites: dict[int, dict[str, Any]]
    subjects: list[dict[str, Any]]
    visits: dict[int, dict[str, Any]]  # visit id → {"num": order, "name": English name, "subject_id", "date"}
    arms: dict[str, str]  # dose level code → ARM description
    forms: dict[str, list[dict[str, Any]]]
    #: (dataset, variable) → values changed by the ASCII text policy
    text_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: where the endpoint engine's cut is read from (RS and ADaM): the study and the snapshot time
    study: Any = None
    at: datetime | None = None
    _cut: Any = None
    #: the engine's (cut, population, per-subject endpoints), computed once (exports.adam)
    endpoints: Any = None
    #: the study schedule (VisitDefinition rows in order): TV, SV (exports.design)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    #: each subject's trial elements (exports.design.subject_elements), derived once: SE and EPOCH
    _elements: Any = None
    #: (subject id, date) → (VISITNUM, VISIT) of the unscheduled visits, derived once (`unscheduled`)
    _unscheduled: Any = None
    #: (subject id, date) → the scheduled visit held that day, derived once (`held_on`)
    _held: Any = None

    def unscheduled(self) -> dict[tuple[int, date], tuple[float, str]]:
        """The unscheduled visits: each date on which a subject has LB or VS records at no
        scheduled visit. SDTMIG 3.4 §4.4.5: VISITNUM is populated for them too, numbered after
        the last scheduled visit that took place on or before that date (3 → 3.01, 3.02, …; 0.01
        before the first), VISIT "UNSCHEDULED 3.01"; SV lists them with SVPRESP null."""
        if self._unscheduled is None:
            scheduled: dict[int, list[tuple[date, int]]] = defaultdict(list)
            for visit in self.visits.values():
                if visit["date"] is not None:
                    scheduled[visit["subject_id"]].append((visit["date"], visit["num"]))
            dates: dict[int, set[date]] = defaultdict(set)
            for form, field_name in UNSCHEDULED_FORMS:
                columns = form_columns(self.forms.get(form, []), ("subject_id", "visit_id", field_name))
                same_day = form in SAME_DAY_VISIT_FORMS
                for subject_id, visit_id, on in zip(*columns.values(), strict=True):
                    if visit_id not in self.visits and on is not None:
                        if same_day and self.held_on(subject_id, on) is not None:
                            continue
                        dates[subject_id].add(on)
            found: dict[tuple[int, date], tuple[float, str]] = {}
            for subject_id, days in dates.items():
                done = sorted(scheduled.get(subject_id, []))
                count: Counter[int] = Counter()
                for on in sorted(days):
                    before = max((num for when, num in done if when <= on), default=0)
                    count[before] += 1
                    number = round(before + count[before] / 100, 2)
                    found[(subject_id, on)] = (number, f"UNSCHEDULED {number:.2f}")
            self._unscheduled = found
        return self._unscheduled

    def visit_of(
        self, row: dict[str, Any], on: date, *, same_day: bool = False
    ) -> tuple[float | int | None, str | None]:
        """(VISITNUM, VISIT) of a findings record: its scheduled visit, else (`same_day`, a marrow
        assessment entered without its visit) the scheduled visit the subject had that day, else
        its unscheduled one."""
        visit = self.visits.get(row["visit_id"])
        if visit is None and same_day:
            visit = self.held_on(row["subject_id"], on)
        if visit is not None:
            return visit["num"], visit["name"]
        return self.unscheduled().get((row["subject_id"], on), (None, None))

    def visits_at(
        self, visit_ids: list[int | None], subject_ids: list[int], dates: list[date]
    ) -> list[tuple[float | int | None, str | None]]:
        """`visit_of` of each record of a form read by column (not a same-day form)."""
        named = {pk: (visit["num"], visit["name"]) for pk, visit in self.visits.items()}
        unscheduled = self.unscheduled().get
        none = (None, None)
        return [
            named.get(visit_id) or unscheduled((subject_id, on), none)  # type: ignore[arg-type]
            for visit_id, subject_id, on in zip(visit_ids, subject_ids, dates, strict=True)
        ]

    def held_on(self, subject_id: int, on: date) -> dict[str, Any] | None:
        """The subject's scheduled visit dated `on` (the earliest in the schedule), if any."""
        if self._held is None:
            held: dict[tuple[int, date], dict[str, Any]] = {}
            for visit in sorted(self.visits.values(), key=lambda v: v["num"], reverse=True):
                if visit["date"] is not None:
                    held[(visit["subject_id"], visit["date"])] = visit
            self._held = held
        return self._held.get((subject_id, on))  # type: ignore[no-any-return]

    def cut(self) -> Any:
        """The endpoint engine's inputs for this export (endpoints.services.load_cut at the same
        snapshot and cut-off), limited to the export's subjects; read once, on first use."""
        if self._cut is None:
            self._cut = load_cut_for(self)
        return self._cut

    def by_subject(self, form: str) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in self.forms.get(form, []):
            out[row["subject_id"]].append(row)
        return out

    def text(self, dataset: str, variable: str, value: str | None, fallback: str = "") -> str:
        cleaned = ascii_text(value)
        if (value or "") != cleaned:
            self.text_changes[(dataset, variable)] += 1
        return cleaned or fallback


#: the dated forms whose records take an unscheduled VISITNUM when not at a scheduled visit
UNSCHEDULED_FORMS = (("labs", "collected_on"), ("vitals", "assessment_date"), ("marrow_assessments", "assessment_date"))
#: forms whose record without a visit belongs to the scheduled visit held the same day (a marrow
#: assessment is entered on its own page, without choosing the visit: RS/CP/GF, issue 28)
SAME_DAY_VISIT_FORMS = {"marrow_assessments"}

#: form → (model path, clinical date field used for the cut-off; "" = none)
FORMS: dict[str, tuple[str, str]] = {
    "consents": ("subjects.InformedConsent", "consent_date"),
    "demographics": ("subjects.Demographics", "assessment_date"),
    "lymphodepletions": ("subjects.Lymphodepletion", "start_date"),
    "infusions": ("subjects.Infusion", "infusion_date"),
    "adverse_events": ("adverse_events.AdverseEvent", "onset_date"),
    "crs_episodes": ("adverse_events.CrsEpisode", "onset_date"),
    "icans_episodes": ("adverse_events.IcansEpisode", "onset_date"),
    "conmeds": ("subjects.ConcomitantMedication", "start_date"),
    "deaths": ("survival.Death", "death_date"),
    "follow_ups": ("survival.FollowUpContact", "contact_date"),
    "labs": ("labs.LabResult", "collected_on"),
    "vitals": ("labs.VitalSigns", "assessment_date"),
    "medical_history": ("subjects.MedicalHistory", ""),
    "disease_history": ("subjects.DiseaseHistory", ""),
    # issue 28 item 9: RS visits, CP/GF (MRD), DV, IE, HO, PR and the CRS/ICANS assessments in FA
    "marrow_assessments": ("response.MarrowAssessment", "assessment_date"),
    "mrd_tests": ("response.MrdTest", "sample_date"),
    "deviations": ("subjects.ProtocolDeviation", "deviation_date"),
    "eligibility": ("subjects.EligibilityAssessment", "assessment_date"),
    "hospital_stays": ("adverse_events.HospitalStay", "admission_date"),
    "cell_collections": ("subjects.CellCollection", "collection_date"),
    "subsequent_therapies": ("survival.SubsequentTherapy", "start_date"),
    "crs_assessments": ("adverse_events.CrsAssessment", "assessment_date"),
    "icans_assessments": ("adverse_events.IcansAssessment", "assessment_date"),
}


#: fields of the forms no builder reads, left out of `load`'s reads (issue 29 item 7): the not-done
#: codes, a JSON column on nearly every form (fetching and parsing it was a tenth of the reads), and
#: the record keeping every form has (who and when, its version, entry status, CRF version, error
#: reason): the datasets are made from what was recorded, the audit trail goes to ODM (exports.odm,
#: which reads the history itself), and the two timestamps parsed per row were a fifth of the reads
UNREAD_FIELDS = frozenset(
    {
        "missing",
        "created_at",
        "created_by_id",
        "updated_at",
        "updated_by_id",
        "version",
        "crf_version",
        "entry_status",
        "error_reason",
    }
)


#: the forms read a column at a time (snapshot.columns_as_of, held as ColumnRows): the two with a
#: record per result or measurement set, whose builders (LB, VS) take them by column (issue 29
#: item 7: a dict per record was a third of their read); every other form is a list of dicts
COLUMN_FORMS = frozenset({"labs", "vitals"})


def _kept(rows: ColumnRows, keep: list[bool]) -> ColumnRows:
    """The rows whose `keep` is true (all of them: the same object)."""
    if all(keep):
        return rows
    return ColumnRows({name: list(compress(values, keep)) for name, values in rows.values.items()}, sum(keep))


def form_columns(rows: Any, names: Iterable[str]) -> dict[str, list[Any]]:
    """The values of each of `names` of a form's records: a COLUMN_FORMS form's columns as read,
    or those of a list of dicts (a form given record by record; None where a record lacks one)."""
    if isinstance(rows, ColumnRows):
        return {name: rows.values[name] for name in names}
    return {name: [row.get(name) for row in rows] for name in names}


#: decimal fields of the forms read as their text (snapshot.rows_as_of `text`), not as `Decimal`s:
#: their builders (LB, VS) only write them as text (`_plain`) and as floats (issue 29 item 7)
TEXT_DECIMALS: dict[str, tuple[str, ...]] = {
    "labs": ("value", "lln", "uln", "standard_value", "standard_lln", "standard_uln"),
    "vitals": ("temperature_c",),
}


def subjects_at_cutoff(
    history: list[dict[str, Any]], consents: list[dict[str, Any]], cutoff: date
) -> list[dict[str, Any]]:
    """Each subject as it stood at the clinical cut-off (DESIGN §5, the rule of the endpoint run's
    population): consented on or before it, and the last version of its record — written up to the
    snapshot, in the order written — whose status is dated on or before it. A subject enrolled,
    assigned a dose level or withdrawn after the cut-off is exported as it was before."""
    consented = {row["subject_id"] for row in consents if row["consent_date"] <= cutoff}
    in_force: dict[int, dict[str, Any]] = {}
    for version in history:
        if version["id"] not in consented or version["pgh_label"] == "delete":
            continue
        if version["status_date"] is None or version["status_date"] <= cutoff:
            in_force[version["id"]] = version
    found = []
    for pk in sorted(in_force):
        row = {key: value for key, value in in_force[pk].items() if key != "pgh_label"}
        if row["subject_id"] or row["screening_number"]:
            found.append(row)
    return found


def load(
    *,
    study: Any,
    site_ids: list[int],
    cutoff: date,
    at: datetime,
    subject_ids: Iterable[int] | None = None,
    forms_wanted: Iterable[str] | None = None,
) -> ExportData:
    """The export's inputs: each form once, as it stood at `at`, for the subjects of `site_ids`,
    dated on or before `cutoff`. A bounded number of queries whatever the number of subjects.
    `subject_ids` limits them to those subjects (a chunk of the export, exports.chunked);
    `forms_wanted` reads only the forms named (the others are empty)."""
    from django.apps import apps

    from endpoints import snapshot
    from endpoints.services import settings_for
    from study.models import Site, VisitDefinition
    from subjects.models import Subject, Visit

    sites = {s["id"]: s for s in Site.objects.filter(pk__in=site_ids).values("id", "code", "time_zone").order_by("id")}
    # the keys as one array parameter (snapshot.any_of), not `__in`'s value-by-value preparing
    limit = snapshot.any_of("pgh_obj_id", list(subject_ids)) if subject_ids is not None else None
    wanted = set(FORMS if forms_wanted is None else forms_wanted)
    live = [
        row["id"] for row in snapshot.rows_as_of(Subject, at, site_id__in=list(sites), fields=["site_id"], where=limit)
    ]
    of_live = snapshot.any_of("subject_id", live)
    forms: dict[str, list[dict[str, Any]]] = {}
    for name, (path, date_field) in FORMS.items():
        if name not in wanted:
            forms[name] = []
            continue
        model = apps.get_model(path)
        read = [name for name in snapshot.field_names(model) if name not in UNREAD_FIELDS]
        if name in COLUMN_FORMS:
            columns = snapshot.columns_as_of(model, at, fields=read, where=of_live, text=TEXT_DECIMALS[name])
            dated = columns[date_field]
            forms[name] = _kept(ColumnRows(columns), [on is not None and on <= cutoff for on in dated])
            continue
        rows = snapshot.rows_as_of(model, at, fields=read, where=of_live, text=TEXT_DECIMALS.get(name, ()))
        if date_field:
            rows = [r for r in rows if r.get(date_field) is not None and r[date_field] <= cutoff]
        forms[name] = rows
    subjects = subjects_at_cutoff(
        snapshot.history_as_of(Subject, at, where=snapshot.any_of("pgh_obj_id", live)), forms["consents"], cutoff
    )
    ids = {row["id"] for row in subjects}
    for name, rows in forms.items():
        if isinstance(rows, ColumnRows):
            forms[name] = _kept(rows, [subject in ids for subject in rows.values["subject_id"]])
        else:
            forms[name] = [r for r in rows if r["subject_id"] in ids]
    definitions = {
        d["id"]: d
        for d in VisitDefinition.objects.filter(study=study)
        .values("id", "order", "name", "code", "anchor", "day", "window_before", "window_after")
        .order_by("order")
    }
    visits = {}
    for row in snapshot.rows_as_of(Visit, at, where=snapshot.any_of("subject_id", sorted(ids))):
        definition = definitions.get(row["definition_id"])
        if definition is not None:
            on = row["visit_date"] if row["visit_date"] and row["visit_date"] <= cutoff else None
            visits[row["id"]] = {
                "num": definition["order"],
                "name": ascii_text(definition["name"]).upper(),
                "subject_id": row["subject_id"],
                "definition_id": row["definition_id"],
                "date": on,
            }
    _version, choices = settings_for(study, at)
    arms = {
        level.code: f"{CAR_T} {level.code} ({_plain(level.target_cells_per_kg)} CAR+ cells/kg)"
        for level in choices.dose_levels
    }
    return ExportData(
        study_code=study.code,
        cutoff=cutoff,
        sites=sites,
        subjects=subjects,
        visits=visits,
        arms=arms,
        forms=forms,
        study=study,
        at=at,
        schedule=list(definitions.values()),
    )


def load_cut_for(data: ExportData) -> Any:
    """The endpoint run's `CutData` for the export's subjects (empty without a study: the
    builders' columns are then still defined)."""
    import dataclasses

    from endpoints.tables import CutData

    if data.study is None or data.at is None:
        return CutData(
            cutoff=data.cutoff,
            subjects=[],
            subject_history=[],
            consents=[],
            collections=[],
            infusions=[],
            adverse_events=[],
            deaths=[],
        )
    from endpoints.services import NO_DIGEST, load_cut

    ids = {row["id"] for row in data.subjects}
    cut, _version, _digest = load_cut(
        data.study, cutoff=data.cutoff, at=data.at, subject_ids=sorted(ids), digest_scheme=NO_DIGEST
    )
    limited: dict[str, Any] = {}
    for name in CutData.INPUTS:
        rows = getattr(cut, name)
        if name == "subject_history" or name == "subjects":
            limited[name] = [r for r in rows if r["id"] in ids]
        elif rows and "subject_id" in rows[0]:
            limited[name] = [r for r in rows if r["subject_id"] in ids]
    return dataclasses.replace(cut, **limited)


# --- helpers --------------------------------------------------------------------------------------


#: `_plain` of each text of a number seen (the same few thousand values on every lab and vital sign)
_PLAIN: dict[str, str] = {}


def _plain(value: Decimal | float | int) -> str:
    written = str(value)
    text = _PLAIN.get(written)
    if text is None:
        if len(_PLAIN) >= 200_000:
            _PLAIN.clear()
        text = _PLAIN[written] = format(Decimal(written).normalize(), "f")
    return text


def _num(value: Decimal | int | float | None) -> float | None:
    return None if value is None else float(value)


def sdtm_day(on: date | None, ref: date | None) -> int | None:
    """SDTM study day: day 1 is the reference date, the day before it day -1 (no day 0)."""
    if on is None or ref is None:
        return None
    days = (on - ref).days
    return days + 1 if days >= 0 else days


def day0(on: date | None, ref: date | None) -> int | None:
    """The clinical Day-0 clock: the first infusion's date is day 0 (CLINICAL_SPEC §9)."""
    if on is None or ref is None:
        return None
    return (on - ref).days


def _local(instant: datetime | None, tz: str) -> str | None:
    """ISO 8601 local date-time to the minute (SDTM --DTC, the site's clock)."""
    if instant is None:
        return None
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def _epochs(data: ExportData, rows: list[dict[str, Any]], on: Any) -> None:
    """EPOCH of each row from the subject's SE elements (exports.design) and its date `on(row)`:
    `_epoch_column` of the rows' subjects and dates."""
    epochs = _epoch_column(data, [row["USUBJID"] for row in rows], [on(row) for row in rows])
    for row, epoch in zip(rows, epochs, strict=True):
        row["EPOCH"] = epoch


def _yn(flag: bool | None) -> str | None:
    return None if flag is None else ("Y" if flag else "N")


@dataclass
class Subj:
    """A subject's identifiers and reference dates, derived once for every builder."""

    id: int
    usubjid: str
    subjid: str
    siteid: str
    tz: str
    row: dict[str, Any]
    ref: date | None  # date of RFSTDTC (first infusion, site-local), within the cut


def subjects(data: ExportData) -> dict[int, Subj]:
    infused: dict[int, date] = {}
    for inf in data.forms["infusions"]:
        d = inf["infusion_date"]
        if d is not None and (inf["subject_id"] not in infused or d < infused[inf["subject_id"]]):
            infused[inf["subject_id"]] = d
    out = {}
    for row in data.subjects:
        site = data.sites[row["site_id"]]
        subjid = row["subject_id"] or row["screening_number"]
        out[row["id"]] = Subj(
            id=row["id"],
            usubjid=f"{data.study_code}-{site['code']}-{subjid}",
            subjid=subjid,
            siteid=site["code"],
            tz=site["time_zone"],
            row=row,
            ref=infused.get(row["id"]),
        )
    return out


def _base(data: ExportData, subj: Subj, domain: str) -> dict[str, Any]:
    return {"STUDYID": data.study_code, "DOMAIN": domain, "USUBJID": subj.usubjid}


def _sequence(rows: list[dict[str, Any]], prefix: str, key: Any) -> list[dict[str, Any]]:
    """Sort by USUBJID then `key` (a function of the row, or the name of the row's sort field,
    read in C) and number --SEQ within each subject from 1."""
    if isinstance(key, str):
        rows.sort(key=operator.itemgetter("USUBJID", key))
    else:
        rows.sort(key=lambda r: (r["USUBJID"], key(r)))
    field_name = f"{prefix}SEQ"
    for row, number in zip(rows, sequence_numbers([row["USUBJID"] for row in rows]), strict=True):
        row[field_name] = number
    return rows


#: supplemental qualifiers entered on a CRF (QORIG = CRF); the others are derived by the export
COLLECTED_QNAMS = {"AERELLD", "AESI", "PRODSTAT", "PRODSRC"}


@dataclass
class Supp:
    """Supplemental qualifiers collected while a parent domain is built."""

    domain: str
    items: list[tuple[dict[str, Any], str, str, Any, str]] = field(default_factory=list)

    def add(self, parent: dict[str, Any], qnam: str, qlabel: str, qval: Any, qorig: str = "") -> None:
        if qval is None or qval == "":
            return
        self.items.append((parent, qnam, qlabel, qval, qorig or ("CRF" if qnam in COLLECTED_QNAMS else "Derived")))

    def dataset(self, data: ExportData) -> Dataset:
        seq = f"{self.domain}SEQ"
        rows = []
        for parent, qnam, qlabel, qval, qorig in self.items:
            rows.append(
                {
                    "STUDYID": data.study_code,
                    "RDOMAIN": self.domain,
                    "USUBJID": parent["USUBJID"],
                    "IDVAR": seq if self.domain != "DM" else "",
                    "IDVARVAL": str(parent[seq]) if self.domain != "DM" else "",
                    "QNAM": qnam,
                    "QLABEL": qlabel,
                    "QVAL": qval if isinstance(qval, str) else str(qval),
                    "QORIG": qorig,
                    "QEVAL": "",
                }
            )
        rows.sort(key=lambda r: (r["USUBJID"], int(r["IDVARVAL"] or 0), r["QNAM"]))
        return make_dataset(
            f"SUPP{self.domain}",
            standard=SDTMIG,
            ig_dataset="SUPPQUAL",
            label=f"Supplemental Qualifiers for {self.domain}",
            variables=["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG"],
            rows=rows,
            keys=("USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
            omitted={"QEVAL": "All supplemental qualifiers are collected or derived, none evaluated."},
            notes=[DAY_CONVENTION],
        )


# --- DM -------------------------------------------------------------------------------------------


def _arm_null_reason(status: str, dose_level: str) -> str:
    """ARMNRS of a subject never infused: a screen failure, still in screening (not assigned),
    or assigned a dose level and not (yet) treated."""
    if status == "screen_failed":
        return "SCREEN FAILURE"
    return "ASSIGNED, NOT TREATED" if dose_level else "NOT ASSIGNED"


END_STATUSES = {"completed", "withdrawn", "died", "lost", "not_infused", "screen_failed"}


@register("DM", standard=SDTMIG, order=10)
def build_dm(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    demog = data.by_subject("demographics")
    consents = data.by_subject("consents")
    deaths = data.by_subject("deaths")
    infusions = data.by_subject("infusions")
    lds = data.by_subject("lymphodepletions")
    follow = data.by_subject("follow_ups")
    supp = Supp("DM")
    rows = []
    for subj in subjs.values():
        row = _base(data, subj, "DM")
        s = subj.row
        infs = sorted(infusions.get(subj.id, []), key=lambda r: r["infusion_start"])
        ex_starts: list[tuple[date, str]] = [
            (r["infusion_date"], _local(r["infusion_start"], subj.tz) or "") for r in infs
        ]
        ex_ends: list[tuple[date, str]] = [
            (r["infusion_date"], _local(r["infusion_end"] or r["infusion_start"], subj.tz) or "") for r in infs
        ]
        for ld in lds.get(subj.id, []):
            ex_starts.append((ld["start_date"], ld["start_date"].isoformat()))
            end = ld["end_date"] if ld["end_date"] and ld["end_date"] <= data.cutoff else ld["start_date"]
            ex_ends.append((end, end.isoformat()))
        first_consent = min((c["consent_date"] for c in consents.get(subj.id, [])), default=None)
        death = min((d["death_date"] for d in deaths.get(subj.id, [])), default=None)
        dm = min(demog.get(subj.id, []), key=lambda r: (r["assessment_date"], r["id"]), default=None)
        status_date = s["status_date"] if s["status_date"] and s["status_date"] <= data.cutoff else None
        ended = s["status"] in END_STATUSES and status_date is not None
        dated = [
            d
            for d in (
                first_consent,
                death,
                status_date,
                *(f["contact_date"] for f in follow.get(subj.id, [])),
                *(e[0] for e in ex_ends),
            )
            if d is not None
        ]
        dose_level = s["dose_level"] or ""
        actual = infs[0]["dose_level"] if infs else ""
        row.update(
            {
                "SUBJID": subj.subjid,
                "RFSTDTC": _local(infs[0]["infusion_start"], subj.tz) if infs else None,
                "RFENDTC": max(ex_ends)[1] if ex_ends else None,
                "RFXSTDTC": min(ex_starts)[1] if ex_starts else None,
                "RFXENDTC": max(ex_ends)[1] if ex_ends else None,
                "RFICDTC": iso(first_consent),
                "RFPENDTC": iso(max(dated)) if ended and dated else None,
                "DTHDTC": iso(death),
                "DTHFL": "Y" if death else None,
                "SITEID": subj.siteid,
                "AGE": _num(dm["age_years"]) if dm else None,
                "AGEU": "YEARS" if dm and dm["age_years"] is not None else None,
                "SEX": dm["sex"] if dm else "U",
                # not collected by the CRF: NOT REPORTED (CDISC CT), as ADSL.RACE
                "RACE": "NOT REPORTED",
                "ETHNIC": "NOT REPORTED",
                "ARMCD": dose_level or None,
                "ARM": data.arms.get(dose_level, f"{CAR_T} {dose_level}") if dose_level else None,
                "ACTARMCD": (actual or dose_level) if infs else None,
                "ACTARM": data.arms.get(actual or dose_level, f"{CAR_T} {actual or dose_level}") if infs else None,
                "ARMNRS": None if infs else _arm_null_reason(s["status"], dose_level),
                "COUNTRY": COUNTRY_BY_TIME_ZONE.get(subj.tz) or None,
                "DMDTC": iso(dm["assessment_date"]) if dm else None,
                "DMDY": sdtm_day(dm["assessment_date"], subj.ref) if dm else None,
            }
        )
        rows.append(row)
        if dm is not None:
            supp.add(row, "DMDY0", "Study Day of Collection (Day-0 clock)", day0(dm["assessment_date"], subj.ref))
    rows.sort(key=lambda r: r["USUBJID"])
    dataset = make_dataset(
        "DM",
        standard=SDTMIG,
        ig_dataset="DM",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "SUBJID",
            "RFSTDTC",
            "RFENDTC",
            "RFXSTDTC",
            "RFXENDTC",
            "RFICDTC",
            "RFPENDTC",
            "DTHDTC",
            "DTHFL",
            "SITEID",
            "AGE",
            "AGEU",
            "SEX",
            "RACE",
            "ETHNIC",
            "ARMCD",
            "ARM",
            "ACTARMCD",
            "ACTARM",
            "ARMNRS",
            "COUNTRY",
            "DMDTC",
            "DMDY",
        ],
        rows=rows,
        keys=("USUBJID",),
        omitted={
            "ACTARMUD": "No unplanned treatment: the actual arm is always a planned dose level (why a subject was "
            "not infused is in DS).",
        },
        notes=[
            "One record per subject with a subject ID or screening number; screen failures have ARMNRS = "
            "SCREEN FAILURE, enrolled subjects never infused ARMNRS = ASSIGNED, NOT TREATED.",
            "ARM/ARMCD: the assigned CAR-T dose level; ACTARM/ACTARMCD: the dose level of the first infusion.",
            "RFSTDTC = first CAR-T infusion start; RFXSTDTC = earliest EXSTDTC (first lymphodepletion dose).",
            "BRTHDTC is not exported (identity data); AGE comes from the demographics form.",
            "RACE/ETHNIC: NOT REPORTED, the demographics form does not collect them (single-site study in China).",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- EX -------------------------------------------------------------------------------------------

LD_AGENTS = (("fludarabine_mg_m2", "FLUDARABINE"), ("cyclophosphamide_mg_m2", "CYCLOPHOSPHAMIDE"))


@register("EX", standard=SDTMIG, order=20)
def build_ex(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    rows: list[dict[str, Any]] = []
    extra: list[tuple[dict[str, Any], list[tuple[str, str, Any]]]] = []
    for inf in data.forms["infusions"]:
        subj = subjs[inf["subject_id"]]
        end = inf["infusion_end"] or inf["infusion_start"]
        end_date = end.astimezone(ZoneInfo(subj.tz)).date()
        row = _base(data, subj, "EX") | {
            "EXTRT": CAR_T,
            "EXCAT": "CAR-T INFUSION",
            "EXDOSE": None
            if inf["car_positive_per_kg_e6"] is None
            else float(Decimal(inf["car_positive_per_kg_e6"]) * Decimal(1_000_000)),
            "EXDOSU": "cells/kg",
            "EXDOSFRM": "SUSPENSION",
            "EXDOSFRQ": "ONCE",
            "EXROUTE": "INTRAVENOUS",
            "EXLOT": data.text("EX", "EXLOT", inf["lot_number"]),
            "EXSTDTC": _local(inf["infusion_start"], subj.tz),
            "EXENDTC": _local(end, subj.tz),
            "EXSTDY": sdtm_day(inf["infusion_date"], subj.ref),
            "EXENDY": sdtm_day(end_date, subj.ref),
            "_sort": (inf["infusion_date"], 1, inf["infusion_start"].isoformat()),
        }
        rows.append(row)
        extra.append(
            (
                row,
                [
                    ("PRODSTAT", "Product State (Fresh or Thawed)", inf["state"].upper()),
                    ("PRODSRC", "Product Source", inf["source"].upper()),
                    ("DOSELVL", "Dose Level Assigned", inf["dose_level"] or None),
                    ("DOSINRNG", "Dose Within Protocol Range", _yn(inf["dose_in_range"])),
                    ("EXSTDY0", "Study Day of Start (Day-0 clock)", day0(inf["infusion_date"], subj.ref)),
                    ("EXENDY0", "Study Day of End (Day-0 clock)", day0(end_date, subj.ref)),
                ],
            )
        )
    for ld in data.forms["lymphodepletions"]:
        subj = subjs[ld["subject_id"]]
        end = ld["end_date"] if ld["end_date"] and ld["end_date"] <= data.cutoff else None
        agents = [(name, ld[field]) for field, name in LD_AGENTS if ld[field] is not None]
        if ld["other_agent"] and ld["other_agent_mg_m2"] is not None:
            agents.append(
                (
                    data.text("EX", "EXTRT", ld["other_agent"], "OTHER LYMPHODEPLETING AGENT").upper(),
                    ld["other_agent_mg_m2"],
                )
            )
        for name, dose in agents:
            row = _base(data, subj, "EX") | {
                "EXTRT": name,
                "EXCAT": "LYMPHODEPLETION",
                "EXDOSE": _num(dose),
                "EXDOSU": "mg/m2",
                "EXDOSFRM": "INJECTION",
                "EXDOSFRQ": "QD",
                "EXROUTE": "INTRAVENOUS",
                "EXSTDTC": iso(ld["start_date"]),
                "EXENDTC": iso(end),
                "EXSTDY": sdtm_day(ld["start_date"], subj.ref),
                "EXENDY": sdtm_day(end, subj.ref),
                "_sort": (ld["start_date"], 0, name),
            }
            rows.append(row)
            extra.append(
                (
                    row,
                    [
                        ("BSA", "Body Surface Area Used (m2)", _plain(ld["bsa_m2"])),
                        ("EXSTDY0", "Study Day of Start (Day-0 clock)", day0(ld["start_date"], subj.ref)),
                        ("EXENDY0", "Study Day of End (Day-0 clock)", day0(end, subj.ref)),
                    ],
                )
            )
    _sequence(rows, "EX", "_sort")
    _epochs(data, rows, lambda r: r["_sort"][0])
    supp = Supp("EX")
    for row, items in extra:
        for qnam, qlabel, qval in items:
            supp.add(row, qnam, qlabel, qval)
    dataset = make_dataset(
        "EX",
        standard=SDTMIG,
        ig_dataset="EX",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "EXSEQ",
            "EXTRT",
            "EXCAT",
            "EXDOSE",
            "EXDOSU",
            "EXDOSFRM",
            "EXDOSFRQ",
            "EXROUTE",
            "EXLOT",
            "EPOCH",
            "EXSTDTC",
            "EXENDTC",
            "EXSTDY",
            "EXENDY",
        ],
        rows=rows,
        keys=("USUBJID", "EXSEQ"),
        notes=[
            "CAR-T infusions: EXDOSE in CAR+ cells/kg (the dose derived on the infusion form); fresh or "
            "thawed product in SUPPEX.PRODSTAT.",
            "Lymphodepletion: one record per agent and course, EXDOSE in mg/m2 per day (EXDOSFRQ = QD).",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- AE -------------------------------------------------------------------------------------------

AEACN = {
    "none": "DOSE NOT CHANGED",
    "treatment": "DOSE NOT CHANGED",
    "delayed": "DRUG INTERRUPTED",
    "not_given": "DRUG WITHDRAWN",
    "not_applicable": "NOT APPLICABLE",
}
AEOUT = {
    "recovered": "RECOVERED/RESOLVED",
    "sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}
SCALE_NAMES = {"CTCAE v5.0": "CTCAE v5.0", "ASTCT-2019": "ASTCT 2019"}


def _action(ae: dict[str, Any], subj: Subj) -> str:
    """AEACN for a single-infusion product: once the cells were given (onset on or after the first
    infusion date) no action on them is possible, so NOT APPLICABLE; before it the CRF's action
    (infusion delayed, not given, none)."""
    if subj.ref is not None and ae["onset_date"] >= subj.ref and ae["action"] in {"none", "treatment", ""}:
        return "NOT APPLICABLE"
    return AEACN.get(ae["action"], "UNKNOWN")


@register("AE", standard=SDTMIG, order=30)
def build_ae(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    crs = {e["id"]: e for e in data.forms["crs_episodes"]}
    icans = {e["id"]: e for e in data.forms["icans_episodes"]}
    rows = []
    extra = []
    course_rows: list[dict[str, Any]] = []
    for ae in data.forms["adverse_events"]:
        subj = subjs[ae["subject_id"]]
        course = grade_course_at_cutoff(ae, data.cutoff)
        end = ae["resolution_date"] if ae["resolution_date"] and ae["resolution_date"] <= data.cutoff else None
        # resolved (or fatal) only after the cut-off: at the cut it was still going on
        after_cut = ae["resolution_date"] is not None and end is None
        outcome = "not_recovered" if after_cut else ae["outcome"]
        episode = crs.get(ae["crs_episode_id"]) or icans.get(ae["icans_episode_id"])
        kind = "CRS" if ae["crs_episode_id"] else ("ICANS" if ae["icans_episode_id"] else "")
        row = _base(data, subj, "AE") | {
            "AESPID": str(ae["id"]),
            "AETERM": data.text("AE", "AETERM", ae["verbatim"], ae["ctcae_term"]),
            "AELLT": ae["ctcae_term"],
            "AELLTCD": _num(int(ae["meddra_code"])) if ae["meddra_code"] else None,
            "AEDECOD": ae["ctcae_term"],
            "AECAT": kind or None,
            "AEBODSYS": ae["soc"] or None,
            "AESOC": ae["soc"] or None,
            "AESER": _yn(ae["serious"]),
            "AEACN": _action(ae, subj),
            "AEREL": (ae["relationship_car_t"] or "").upper() or None,
            "AEOUT": AEOUT.get(outcome),
            "AESCONG": _yn(ae["serious_congenital_anomaly"]),
            "AESDISAB": _yn(ae["serious_disability"]),
            "AESDTH": _yn(ae["serious_death"] and not after_cut),
            "AESHOSP": _yn(ae["serious_hospitalisation"]),
            "AESLIFE": _yn(ae["serious_life_threatening"]),
            "AESMIE": _yn(ae["serious_important_medical_event"]),
            "AECONTRT": "Y" if ae["action"] == "treatment" else "N",
            "AETOXGR": str(max(entry.grade for entry in course)),
            "AESTDTC": iso(ae["onset_date"]),
            "AEENDTC": iso(end),
            "AESTDY": sdtm_day(ae["onset_date"], subj.ref),
            "AEENDY": sdtm_day(end, subj.ref),
            "_sort": (ae["onset_date"], ae["id"]),
            "_ae": ae,
            "_kind": kind,
        }
        rows.append(row)
        course_rows.extend(_course_rows(data, subj, row, ae, course))
        items = [
            ("TOXGRSCL", "Toxicity Grading Scale", SCALE_NAMES.get(ae["grade_scale"], ae["grade_scale"])),
            ("AERELLD", "Relationship to Lymphodepletion", (ae["relationship_lymphodepletion"] or "").upper()),
            ("AESI", "Adverse Event of Special Interest", "Y" if ae["special_interest"] else None),
            ("AECOLPER", "Collection Period", (ae["collection_period"] or "").replace("_", " ").upper()),
            ("AESTDY0", "Study Day of Start (Day-0 clock)", day0(ae["onset_date"], subj.ref)),
            ("AEENDY0", "Study Day of End (Day-0 clock)", day0(end, subj.ref)),
        ]
        if episode is not None:
            items.append(("AEEPISOD", "CRS or ICANS Episode Number", str(episode["number"])))
            if episode["adjudicated_grade"] is not None:
                items.append(("AEADJGR", "Grade Adjudicated by Investigator", "Y"))
        extra.append((row, items))
    _mark_fatal(data, subjs, rows)
    _sequence(rows, "AE", "_sort")
    _epochs(data, rows, lambda r: r["_sort"][0])
    supp = Supp("AE")
    for row, items in extra:
        for qnam, qlabel, qval in items:
            supp.add(row, qnam, qlabel, qval)
    dataset = make_dataset(
        "AE",
        standard=SDTMIG,
        ig_dataset="AE",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "AESEQ",
            "AESPID",
            "AETERM",
            "AELLT",
            "AELLTCD",
            "AEDECOD",
            "AECAT",
            "AEBODSYS",
            "AESOC",
            "AESER",
            "AEACN",
            "AEREL",
            "AEOUT",
            "AESCONG",
            "AESDISAB",
            "AESDTH",
            "AESHOSP",
            "AESLIFE",
            "AESMIE",
            "AECONTRT",
            "AETOXGR",
            "EPOCH",
            "AESTDTC",
            "AEENDTC",
            "AESTDY",
            "AEENDY",
        ],
        rows=rows,
        keys=("USUBJID", "AESEQ"),
        omitted={
            "AEPTCD": "CTCAE v5.0 publishes one MedDRA LLT code per term, not the PT code (no licensed MedDRA).",
            "AEHLT": "Not in CTCAE v5.0 (no licensed MedDRA hierarchy).",
            "AEHLTCD": "Not in CTCAE v5.0 (no licensed MedDRA hierarchy).",
            "AEHLGT": "Not in CTCAE v5.0 (no licensed MedDRA hierarchy).",
            "AEHLGTCD": "Not in CTCAE v5.0 (no licensed MedDRA hierarchy).",
            "AEBDSYCD": "CTCAE v5.0 names the SOC but publishes no SOC code.",
            "AESOCCD": "CTCAE v5.0 names the SOC but publishes no SOC code.",
        },
        notes=[
            "AEDECOD/AELLT: the CTCAE v5.0 term (a MedDRA LLT); AELLTCD its MedDRA code; AEBODSYS/AESOC the "
            "SOC CTCAE publishes with it.",
            "AETOXGR: the grade number; scale in SUPPAE.TOXGRSCL: CTCAE v5.0, or ASTCT 2019 for the CRS "
            "and ICANS AEs (AECAT = CRS / ICANS) the system keeps in step with their episodes.",
            "AEREL: relationship to the CAR-T cells; to lymphodepletion in SUPPAE.AERELLD.",
            "One record per AE: AETOXGR is the highest grade of its dated course reached on or before the "
            "clinical cut-off (a rise after the cut-off is not counted); the course itself, one record per "
            "grade from its date, is in FA (FATESTCD = TOXGR, FASPID = AESPID).",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data), _course_dataset(data, subjs, course_rows)]


def grade_course_at_cutoff(ae: dict[str, Any], cutoff: date) -> tuple[ae_course.GradeChange, ...]:
    """The AE's dated grade course (issue 30) as known at the cut-off: the entries from on or
    before it (the first is the onset, itself on or before the cut-off for an exported AE)."""
    course = ae_course.from_stored(ae.get("grade_course"), onset=ae["onset_date"], grade=ae["grade"])
    return tuple(entry for entry in course if entry.from_date <= cutoff) or course[:1]


def _course_rows(
    data: ExportData, subj: Subj, parent: dict[str, Any], ae: dict[str, Any], course: Iterable[ae_course.GradeChange]
) -> list[dict[str, Any]]:
    """FA records of one AE's grade course: one per grade, dated from the day it took effect."""
    scale = SCALE_NAMES.get(ae["grade_scale"], ae["grade_scale"])
    return [
        _base(data, subj, "FA")
        | {
            "FASPID": parent["AESPID"],
            "FATESTCD": "TOXGR",
            "FATEST": "Toxicity Grade",
            "FAOBJ": parent["AEDECOD"],
            "FACAT": "ADVERSE EVENT GRADE COURSE",
            "FASCAT": (scale or "").upper() or None,
            "FAORRES": str(entry.grade),
            "FASTRESC": str(entry.grade),
            "FASTRESN": entry.grade,
            "FADTC": iso(entry.from_date),
            "FADY": sdtm_day(entry.from_date, subj.ref),
            "_sort": (entry.from_date, ae["id"]),
            "_order": (0, ae["id"], entry.from_date),
        }
        for entry in course
    ]


FA_ASSESSMENTS = (
    "FACAT CRS ASSESSMENT / ICANS ASSESSMENT: each CRS and ICANS assessment's ASTCT 2019 inputs and derived grade "
    "(exports.domains: FASPID CRS- / ICANS- + the form's id, FAGRPID CRS-n / ICANS-n inside the subject's episode "
    "n, related in RELREC to that episode's AE); an ICE or CAPD score not evaluable has FASTAT NOT DONE."
)


def _course_dataset(data: ExportData, subjs: dict[int, Subj], course_rows: list[dict[str, Any]]) -> Dataset:
    """FA: the dated grade course of every AE (the sponsor convention of issue 30, docs/exports.md
    "AE grade course"): AE keeps one record per AE with the highest grade by the cut-off; then the
    CRS and ICANS assessments' records (exports.domains, built a column at a time). Sorted by
    USUBJID and `_order`, FASEQ within each subject, EPOCH from the record's date."""
    from exports.domains import FA_RESULT, FA_SHARED, assessment_fa_columns

    assessments, on, orders = assessment_fa_columns(data, subjs)
    get = dict.get
    columns = {name: list(map(get, course_rows, repeat(name))) + assessments[name] for name in FA_SHARED + FA_RESULT}
    on = [row["_sort"][0] for row in course_rows] + on
    keys = list(zip(columns["USUBJID"], [row["_order"] for row in course_rows] + orders, strict=True))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    del keys
    out = {name: permuted(values, order) for name, values in columns.items()}
    out["FASEQ"] = sequence_numbers(out["USUBJID"])
    out["EPOCH"] = _epoch_column(data, out["USUBJID"], permuted(on, order))
    rows = ColumnRows(out, len(order))
    return make_dataset(
        "FA",
        standard=SDTMIG,
        ig_dataset="FA",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "FASEQ",
            "FAGRPID",
            "FASPID",
            "FATESTCD",
            "FATEST",
            "FAOBJ",
            "FACAT",
            "FASCAT",
            "FAORRES",
            "FAORRESU",
            "FASTRESC",
            "FASTRESN",
            "FASTRESU",
            "FASTAT",
            "FAREASND",
            "EPOCH",
            "FADTC",
            "FADY",
        ],
        rows=rows,
        keys=("USUBJID", "FASPID", "FATESTCD", "FADTC"),
        omitted={
            "VISITNUM": "A change of an AE's grade is dated on the AE form, not collected at a visit; CRS and ICANS "
            "assessments are dated and timed (several a day), FADTC places them."
        },
        notes=[
            "The grade course of each AE: one record per grade, FADTC the date from which the AE had that "
            "grade (the first on the AE's onset date); the grade holds until the next record of the same "
            "FASPID, or the AE's end. Changes dated after the clinical cut-off are left out.",
            "FASPID = AE.AESPID links each record to its AE (RELREC, RELID AEGRADE); FAOBJ = AE.AEDECOD; FASCAT "
            "the grading scale (CTCAE v5.0, or ASTCT 2019 for CRS and ICANS).",
            FA_ASSESSMENTS,
            DAY_CONVENTION,
        ],
    )


#: the death form's primary cause → the AEs that death makes fatal (none for disease or other)
FATAL_AE = {
    "crs": lambda row: row["_kind"] == "CRS",
    "icans": lambda row: row["_kind"] == "ICANS",
    "infection": lambda row: (row["AESOC"] or "") == "Infections and infestations",
    "gvhd": lambda row: "graft" in (row["AEDECOD"] or "").lower(),
}


def _mark_fatal(data: ExportData, subjs: dict[int, Subj], rows: list[dict[str, Any]]) -> None:
    """A death from an AE (CRS, ICANS, infection, GvHD on the death form) makes that AE fatal:
    of the subject's AEs of that kind begun on or before the death and not resolved before it,
    the most severe (then the latest) gets AEOUT = FATAL, AESDTH = Y and ends on the death date.
    A death from the disease (or with no such AE) is never given an invented AE: it is in DD with
    its cause, and the conformance report lists it (FB0609)."""
    for death in data.forms["deaths"]:
        matches = FATAL_AE.get(death["primary_cause"])
        if matches is None:
            continue
        usubjid = subjs[death["subject_id"]].usubjid
        on = death["death_date"]
        candidates = [
            r
            for r in rows
            if r["USUBJID"] == usubjid
            and matches(r)
            and r["_ae"]["onset_date"] <= on
            and (r["AEENDTC"] is None or r["AEENDTC"] >= on.isoformat())
        ]
        if not candidates:
            continue
        fatal = max(candidates, key=lambda r: (int(r["AETOXGR"]), r["_sort"]))
        fatal.update(
            {
                "AEOUT": "FATAL",
                "AESDTH": "Y",
                "AESER": "Y",
                "AEENDTC": on.isoformat(),
                "AEENDY": sdtm_day(on, subjs[death["subject_id"]].ref),
            }
        )


# --- DD -------------------------------------------------------------------------------------------

DEATH_CAUSES = {
    "disease": "DISEASE RELAPSE OR PROGRESSION",
    "crs": "CYTOKINE RELEASE SYNDROME",
    "icans": "IMMUNE EFFECTOR CELL-ASSOCIATED NEUROTOXICITY SYNDROME",
    "infection": "INFECTION",
    "gvhd": "GRAFT-VERSUS-HOST DISEASE",
    "other": "OTHER",
}


@register("DD", standard=SDTMIG, order=55)
def build_dd(ctx: BuildContext) -> list[Dataset]:
    """Death Details: the primary cause of every recorded death (the death form), so a death
    without a fatal AE (e.g. from disease progression) is explained, never given an invented AE."""
    data: ExportData = ctx.data
    subjs = subjects(data)
    rows = []
    for death in data.forms["deaths"]:
        subj = subjs[death["subject_id"]]
        cause = death["primary_cause"]
        detail = data.text("DD", "DDORRES", death["cause_detail"])
        standard = DEATH_CAUSES.get(cause, cause.upper())
        if cause == "other" and detail:
            standard = detail.upper()
        rows.append(
            _base(data, subj, "DD")
            | {
                "DDTESTCD": "PRCDTH",
                "DDTEST": "Primary Cause of Death",
                "DDORRES": f"{standard}: {detail}" if detail and cause != "other" else standard,
                "DDSTRESC": standard,
                "DDEVAL": "INVESTIGATOR",
                "DDDTC": iso(death["death_date"]),
                "DDDY": sdtm_day(death["death_date"], subj.ref),
                "_sort": (death["death_date"], death["id"]),
            }
        )
    _sequence(rows, "DD", "_sort")
    dataset = make_dataset(
        "DD",
        standard=SDTMIG,
        ig_dataset="DD",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "DDSEQ",
            "DDTESTCD",
            "DDTEST",
            "DDORRES",
            "DDSTRESC",
            "DDEVAL",
            "DDDTC",
            "DDDY",
        ],
        rows=rows,
        keys=("USUBJID", "DDSEQ"),
        notes=[
            "The primary cause of each death from the death form. A death from CRS, ICANS, infection or GvHD "
            "also makes the matching AE fatal (AEOUT = FATAL, AESDTH = Y); a death from the disease has no AE.",
            DAY_CONVENTION,
        ],
    )
    return [dataset]


# --- CM -------------------------------------------------------------------------------------------

ROUTES = {
    "oral": "ORAL",
    "iv": "INTRAVENOUS",
    "sc": "SUBCUTANEOUS",
    "im": "INTRAMUSCULAR",
    "inhaled": "RESPIRATORY (INHALATION)",
    "topical": "TOPICAL",
    "rectal": "RECTAL",
    "intrathecal": "INTRATHECAL",
}


@register("CM", standard=SDTMIG, order=40)
def build_cm(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    rows = []
    extra = []
    for cm in data.forms["conmeds"]:
        subj = subjs[cm["subject_id"]]
        stop = cm["stop_date"] if cm["stop_date"] and cm["stop_date"] <= data.cutoff else None
        category = (cm["category"] or "").replace("_", " ").upper()
        row = _base(data, subj, "CM") | {
            "CMTRT": data.text("CM", "CMTRT", cm["medication_name"], cm["atc_code"] or category),
            "CMCAT": category or None,
            "CMCLASCD": cm["atc_code"] or None,
            "CMINDC": data.text("CM", "CMINDC", cm["indication"]) or None,
            "CMDOSE": _num(cm["dose"]),
            "CMDOSU": cm["dose_unit"] or None,
            "CMROUTE": ROUTES.get(cm["route"], cm["route"].upper() or None) if cm["route"] else None,
            "CMSTDTC": iso(cm["start_date"]),
            "CMENDTC": iso(stop),
            "CMSTDY": sdtm_day(cm["start_date"], subj.ref),
            "CMENDY": sdtm_day(stop, subj.ref),
            "CMENRTPT": "ONGOING" if (cm["ongoing"] or cm["stop_date"]) and stop is None else None,
            "CMENTPT": iso(data.cutoff) if (cm["ongoing"] or cm["stop_date"]) and stop is None else None,
            "_sort": (cm["start_date"], cm["id"]),
        }
        rows.append(row)
        items = [
            (
                "DEXAEQ",
                "Dexamethasone-Equivalent Dose (mg/day)",
                _plain(cm["dexamethasone_equivalent_mg"]) if cm["dexamethasone_equivalent_mg"] is not None else None,
            ),
            ("CMSTDY0", "Study Day of Start (Day-0 clock)", day0(cm["start_date"], subj.ref)),
            ("CMENDY0", "Study Day of End (Day-0 clock)", day0(stop, subj.ref)),
        ]
        extra.append((row, items))
    _sequence(rows, "CM", "_sort")
    _epochs(data, rows, lambda r: r["_sort"][0])
    supp = Supp("CM")
    for row, items in extra:
        for qnam, qlabel, qval in items:
            supp.add(row, qnam, qlabel, qval)
    dataset = make_dataset(
        "CM",
        standard=SDTMIG,
        ig_dataset="CM",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "CMSEQ",
            "CMTRT",
            "CMCAT",
            "CMCLASCD",
            "CMINDC",
            "CMDOSE",
            "CMDOSU",
            "CMROUTE",
            "EPOCH",
            "CMSTDTC",
            "CMENDTC",
            "CMSTDY",
            "CMENDY",
            "CMENRTPT",
            "CMENTPT",
        ],
        rows=rows,
        keys=("USUBJID", "CMSEQ"),
        notes=[
            "CMTRT: the verbatim name in ASCII (a name left empty by that falls back to the ATC code or the "
            "category); CMCLASCD: the WHO ATC code when entered. Medications are not WHODrug-coded (no CMDECOD).",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- DS -------------------------------------------------------------------------------------------

END_OF_STUDY = {
    "completed": "COMPLETED",
    "withdrawn": "WITHDRAWAL BY SUBJECT",
    "lost": "LOST TO FOLLOW-UP",
    "screen_failed": "SCREEN FAILURE",
}
NOT_INFUSED = {
    "manufacturing_failure": "TECHNICAL PROBLEMS",
    "out_of_specification": "TECHNICAL PROBLEMS",
    "progression": "PROGRESSIVE DISEASE",
    "death": "DEATH",
    "infection": "ADVERSE EVENT",
    "withdrawal": "WITHDRAWAL BY SUBJECT",
}


@register("DS", standard=SDTMIG, order=50)
def build_ds(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    infusions = data.by_subject("infusions")
    deaths = data.by_subject("deaths")
    rows = []
    extra = []

    def add(subj: Subj, term: str, decod: str, cat: str, on: date | None, dtc: str | None, order: int) -> None:
        row = _base(data, subj, "DS") | {
            "DSTERM": term,
            "DSDECOD": decod,
            "DSCAT": cat,
            "DSSTDTC": dtc or iso(on),
            "DSSTDY": sdtm_day(on, subj.ref),
            "_sort": (on or date.max, order),
        }
        rows.append(row)
        extra.append((row, [("DSSTDY0", "Study Day of Start (Day-0 clock)", day0(on, subj.ref))]))

    for consent in data.forms["consents"]:
        subj = subjs[consent["subject_id"]]
        add(
            subj,
            "INFORMED CONSENT OBTAINED",
            "INFORMED CONSENT OBTAINED",
            "PROTOCOL MILESTONE",
            consent["consent_date"],
            None,
            0,
        )
    for subj in subjs.values():
        infs = sorted(infusions.get(subj.id, []), key=lambda r: r["infusion_start"])
        if infs:
            first = infs[0]
            add(
                subj,
                "CAR-T CELLS INFUSED",
                "CAR-T CELLS INFUSED",
                "PROTOCOL MILESTONE",
                first["infusion_date"],
                _local(first["infusion_start"], subj.tz),
                1,
            )
        s = subj.row
        status_date = s["status_date"] if s["status_date"] and s["status_date"] <= data.cutoff else None
        died = sorted(deaths.get(subj.id, []), key=lambda r: r["death_date"])
        for death in died[:1]:
            cat = "DISPOSITION EVENT" if s["status"] == "died" and status_date else "OTHER EVENT"
            add(
                subj,
                data.text("DS", "DSTERM", death["cause_detail"], "DEATH").upper(),
                "DEATH",
                cat,
                death["death_date"],
                None,
                3,
            )
        if status_date is None:
            continue
        if s["status"] in END_OF_STUDY:
            decod = END_OF_STUDY[s["status"]]
            add(
                subj,
                data.text("DS", "DSTERM", s["status_reason"], decod).upper(),
                decod,
                "DISPOSITION EVENT",
                status_date,
                None,
                2,
            )
        elif s["status"] == "not_infused":
            decod = NOT_INFUSED.get(s["not_infused_reason"], "OTHER")
            term = (s["not_infused_reason"] or "not infused").replace("_", " ").upper()
            add(subj, f"NOT INFUSED: {term}", decod, "DISPOSITION EVENT", status_date, None, 2)
        elif s["status"] == "died" and not died:
            add(subj, "DEATH", "DEATH", "DISPOSITION EVENT", status_date, None, 3)
    _sequence(rows, "DS", "_sort")
    _epochs(data, rows, lambda r: r["_sort"][0] if r["_sort"][0] != date.max else None)
    supp = Supp("DS")
    for row, items in extra:
        for qnam, qlabel, qval in items:
            supp.add(row, qnam, qlabel, qval)
    dataset = make_dataset(
        "DS",
        standard=SDTMIG,
        ig_dataset="DS",
        variables=["STUDYID", "DOMAIN", "USUBJID", "DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "EPOCH", "DSSTDTC", "DSSTDY"],
        rows=rows,
        keys=("USUBJID", "DSSEQ"),
        notes=[
            "Protocol milestones: informed consent, first CAR-T infusion (sponsor term CAR-T CELLS INFUSED). "
            "Disposition events: end of study from the subject's status (completed, withdrawn, lost to "
            "follow-up, screen failure, not infused with its reason) and death (an OTHER EVENT when the "
            "subject had left the study before dying).",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- LB -------------------------------------------------------------------------------------------

#: analyte → (LBTESTCD, LBTEST); CDISC test codes where one exists, ≤ 8 characters
LB_TESTS = {
    "WBC": ("WBC", "Leukocytes"),
    "ANC": ("NEUT", "Neutrophils"),
    "ALC": ("LYM", "Lymphocytes"),
    "HGB": ("HGB", "Hemoglobin"),
    "PLT": ("PLAT", "Platelets"),
    "BLAST": ("BLASTLE", "Blasts/Leukocytes"),
    "ALT": ("ALT", "Alanine Aminotransferase"),
    "AST": ("AST", "Aspartate Aminotransferase"),
    "TBIL": ("BILI", "Bilirubin"),
    "CREAT": ("CREAT", "Creatinine"),
    "ALB": ("ALB", "Albumin"),
    "LDH": ("LDH", "Lactate Dehydrogenase"),
    "URATE": ("URATE", "Urate"),
    "K": ("K", "Potassium"),
    "NA": ("SODIUM", "Sodium"),
    "PT": ("PT", "Prothrombin Time"),
    "APTT": ("APTT", "Activated Partial Thromboplastin Time"),
    "INR": ("INR", "Prothrombin Intl. Normalized Ratio"),
    "FIB": ("FIBRINO", "Fibrinogen"),
    "DDIMER": ("DDIMER", "D-Dimer"),
    "CRP": ("CRP", "C Reactive Protein"),
    "FERRITIN": ("FERRITIN", "Ferritin"),
    "IL6": ("IL6", "Interleukin 6"),
    "IL2": ("IL2", "Interleukin 2"),
    "IL10": ("IL10", "Interleukin 10"),
    "IFNG": ("IFNG", "Interferon Gamma"),
    "TNFA": ("TNFA", "Tumor Necrosis Factor Alpha"),
    "CD3_PCT": ("CD3LY", "CD3+ Cells/Lymphocytes"),
    "CD3_ABS": ("CD3", "CD3+ Cells"),
    "CD3CD7P_PCT": ("CD37PLY", "CD3+CD7+ Cells/Lymphocytes"),
    "CD3CD7P_ABS": ("CD37P", "CD3+CD7+ Cells"),
    "CD3CD7N_PCT": ("CD37NLY", "CD3+CD7- Cells/Lymphocytes"),
    "CD3CD7N_ABS": ("CD37N", "CD3+CD7- Cells"),
    "CD4_PCT": ("CD4LY", "CD4+ Cells/Lymphocytes"),
    "CD4_ABS": ("CD4", "CD4+ Cells"),
    "CD8_PCT": ("CD8LY", "CD8+ Cells/Lymphocytes"),
    "CD8_ABS": ("CD8", "CD8+ Cells"),
    "CD56_PCT": ("CD56LY", "CD56+ Cells/Lymphocytes"),
    "CD56_ABS": ("CD56", "CD56+ Cells"),
    "CAR_COPIES": ("CARCPY", "CAR Transgene Copies"),
    "CAR_PCT": ("CARTCD3", "CAR+ T Cells/CD3+ Cells"),
    "CAR_ABS": ("CART", "CAR+ T Cells"),
}
LB_CATEGORIES = {
    "CBC": "HEMATOLOGY",
    "CHEM": "CHEMISTRY",
    "COAG": "COAGULATION",
    "INFL": "INFLAMMATORY MARKERS",
    "TNK": "LYMPHOCYTE SUBSETS",
    "CART": "CAR-T KINETICS",
}
NRIND = {"H": "HIGH", "L": "LOW", "N": "NORMAL"}


FINDINGS_DAY0 = (
    "Clinical Day-0 clock of a finding (CLINICAL_SPEC §9): --DY - 1 when --DY >= 1, --DY when --DY < 0 "
    "(not repeated in SUPP--: one supplemental row per result doubled the dataset)."
)


def _finish_findings_columns(
    data: ExportData,
    columns: dict[str, list[Any]],
    domain: str,
    first_dose: dict[str, date],
    on: list[date],
    ids: list[int],
) -> ColumnRows:
    """What a findings domain (LB, VS), built a column at a time (issue 29 item 7: no dict per
    row), does once its rows are built: the rows sorted by USUBJID, date, --TESTCD and record id
    (every row's key is its own), --LOBXFL on each subject's last result per test dated on or
    before the first dose, --SEQ numbered within each subject, EPOCH from the row's date. No Day-0
    row per record in SUPP-- (it doubled LB and VS, issue 28): the clinical Day-0 day of a finding
    is --DY - 1 from day 1 on and --DY before (FINDINGS_DAY0)."""
    keys = list(zip(columns["USUBJID"], on, columns[f"{domain}TESTCD"], ids, strict=True))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    del keys
    out = {name: permuted(values, order) for name, values in columns.items()}
    on = permuted(on, order)
    usubjid = out["USUBJID"]
    last: dict[tuple[str, str], int] = {}
    dose = first_dose.get
    for position, (subject, when, code) in enumerate(zip(usubjid, on, out[f"{domain}TESTCD"], strict=True)):
        ref = dose(subject)
        if ref is not None and when <= ref:
            last[(subject, code)] = position  # in date order: the last one stays
    flags: list[str | None] = [None] * len(order)
    for position in last.values():
        flags[position] = "Y"
    out[f"{domain}LOBXFL"] = flags
    out[f"{domain}SEQ"] = sequence_numbers(usubjid)
    out["EPOCH"] = _epoch_column(data, usubjid, on)
    return ColumnRows(out, len(order))


def _epoch_column(data: ExportData, usubjid: list[str], on: list[date]) -> list[str | None]:
    """EPOCH of each row (as `_epochs`) from its subject and date, once per distinct pair."""
    from exports.design import epoch_on, subject_elements

    elements = subject_elements(data)
    epochs: dict[tuple[str, date], str | None] = {}
    for pair in dict.fromkeys(zip(usubjid, on, strict=True)):
        epochs[pair] = epoch_on(elements, *pair)
    return list(map(epochs.__getitem__, zip(usubjid, on, strict=True)))


def _texts_and_numbers(values: list[Any]) -> tuple[list[str | None], list[float | None]]:
    """`_plain` (None for None) and `_num` of each of `values` (decimals, integers or None), each
    computed once per distinct written value (`str`: `_plain` reads a value through its text, and
    equal texts are equal numbers)."""
    written = list(map(str, values))
    texts: dict[str, str | None] = {}
    numbers: dict[str, float | None] = {}
    for text, value in dict(zip(written, values, strict=True)).items():
        texts[text] = None if value is None else _plain(value)
        numbers[text] = None if value is None else float(value)
    return list(map(texts.__getitem__, written)), list(map(numbers.__getitem__, written))


def _day_column(dates: list[date | None], refs: list[date | None]) -> list[int | None]:
    """`sdtm_day` of each (date, reference date), once per distinct pair."""
    pairs = list(zip(dates, refs, strict=True))
    days = {pair: sdtm_day(*pair) for pair in set(pairs)}
    return list(map(days.__getitem__, pairs))


def _iso_column(dates: list[date | None]) -> list[str | None]:
    """`iso` of each date, once per distinct date."""
    found = {when: iso(when) for when in set(dates)}
    return list(map(found.__getitem__, dates))


def _first_doses(data: ExportData, subjs: dict[int, Subj]) -> dict[str, date]:
    out: dict[str, date] = {}
    for name, field_name in (("lymphodepletions", "start_date"), ("infusions", "infusion_date")):
        for row in data.forms[name]:
            usubjid = subjs[row["subject_id"]].usubjid
            if row[field_name] is not None and (usubjid not in out or row[field_name] < out[usubjid]):
                out[usubjid] = row[field_name]
    return out


LB_TOXICITY = (
    "LBTOX/LBTOXGR: the CTCAE v5.0 grade the system derives from the result and the reference range in force "
    "(CLINICAL_SPEC §3 'lab-derived grades': neutrophils, platelets, haemoglobin, lymphocytes); grade 0 = within "
    "the normal range for the term; null where no grade is derived (other analytes, or no LLN for a grade 1)."
)


def _original_limits(lab: dict[str, list[Any]], which: str) -> list[Decimal | str | None]:
    """LBORNRLO/HI of each result: the reference limit in force in the result's unit — the
    report's own LLN/ULN (as read: its text, TEXT_DECIMALS), or (range_source site_table) the
    site's range, stored on the result in the standard unit and converted back to the reported
    unit (exact for the demo's tables, kept in the result's unit). Written through `_plain`,
    which reads either as text."""
    from clinical.units import from_standard

    converted: dict[tuple[Any, str, str], Decimal | None] = {}
    out: list[Decimal | str | None] = []
    for own, standard, analyte, unit in zip(
        lab[which], lab[f"standard_{which}"], lab["analyte"], lab["unit"], strict=True
    ):
        if own is not None:
            out.append(own)
        elif standard is None:
            out.append(None)
        else:
            key = (standard, analyte, unit)
            if key not in converted:
                try:
                    value = from_standard(Decimal(standard), analyte_code=analyte, unit=unit)
                    converted[key] = value.quantize(Decimal("0.000001")).normalize()
                except ValueError:  # an analyte or unit the table no longer knows (UnitNotAllowed)
                    converted[key] = None
            out.append(converted[key])
    return out


#: the fields of a lab result LB is made of
LB_FIELDS = (
    "id",
    "subject_id",
    "visit_id",
    "collected_on",
    "panel",
    "analyte",
    "value",
    "unit",
    "lln",
    "uln",
    "standard_value",
    "standard_unit",
    "standard_lln",
    "standard_uln",
    "flag",
    "ctcae_term",
    "ctcae_grade",
)


@register("LB", standard=SDTMIG, order=60)
def build_lb(ctx: BuildContext) -> list[Dataset]:
    """One row per lab result, built a column at a time from the form's columns (issue 29 item 7:
    no dict per row)."""
    data: ExportData = ctx.data
    subjs = subjects(data)
    lab = form_columns(data.forms["labs"], LB_FIELDS)
    count = len(lab["id"])
    subj_of = list(map(subjs.__getitem__, lab["subject_id"]))
    on = lab["collected_on"]
    analytes = lab["analyte"]
    tests = {code: LB_TESTS.get(code, (code[:8], code)) for code in set(analytes)}
    testcd = [tests[code][0] for code in analytes]
    panels = {panel: LB_CATEGORIES.get(panel, panel.upper()) for panel in set(lab["panel"])}
    standard_text, standard_number = _texts_and_numbers(lab["standard_value"])
    visits = data.visits_at(lab["visit_id"], lab["subject_id"], on)
    grades = lab["ctcae_grade"]
    nrind = NRIND.get
    columns = {
        "STUDYID": [data.study_code] * count,
        "DOMAIN": ["LB"] * count,
        "USUBJID": [subj.usubjid for subj in subj_of],
        "LBTESTCD": testcd,
        "LBTEST": [tests[code][1] for code in analytes],
        "LBCAT": list(map(panels.__getitem__, lab["panel"])),
        "LBORRES": _texts_and_numbers(lab["value"])[0],
        "LBORRESU": list(lab["unit"]),
        "LBORNRLO": _texts_and_numbers(_original_limits(lab, "lln"))[0],
        "LBORNRHI": _texts_and_numbers(_original_limits(lab, "uln"))[0],
        "LBSTRESC": standard_text,
        "LBSTRESN": standard_number,
        "LBSTRESU": [unit or None for unit in lab["standard_unit"]],
        "LBSTNRLO": _texts_and_numbers(lab["standard_lln"])[1],
        "LBSTNRHI": _texts_and_numbers(lab["standard_uln"])[1],
        "LBNRIND": list(map(nrind, lab["flag"])),
        # from the grade stored on the result (labs.derive, CLINICAL_SPEC §3); the number alone in
        # LBTOXGR, as SDTMIG 3.4 asks ("2", not "Grade 2")
        "LBTOX": [
            None if grade is None else (term or None) for term, grade in zip(lab["ctcae_term"], grades, strict=True)
        ],
        "LBTOXGR": [None if grade is None else str(grade) for grade in grades],
        "VISITNUM": [visit[0] for visit in visits],
        "VISIT": [visit[1] for visit in visits],
        "LBDTC": _iso_column(on),
        "LBDY": _day_column(on, [subj.ref for subj in subj_of]),
    }
    rows = _finish_findings_columns(data, columns, "LB", _first_doses(data, subjs), list(on), list(lab["id"]))
    supp = Supp("LB")
    dataset = make_dataset(
        "LB",
        standard=SDTMIG,
        ig_dataset="LB",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "LBSEQ",
            "LBTESTCD",
            "LBTEST",
            "LBCAT",
            "LBORRES",
            "LBORRESU",
            "LBORNRLO",
            "LBORNRHI",
            "LBSTRESC",
            "LBSTRESN",
            "LBSTRESU",
            "LBSTNRLO",
            "LBSTNRHI",
            "LBNRIND",
            "LBLOBXFL",
            "LBTOX",
            "LBTOXGR",
            "VISITNUM",
            "VISIT",
            "EPOCH",
            "LBDTC",
            "LBDY",
        ],
        rows=rows,
        keys=("USUBJID", "LBSEQ"),
        notes=[
            "LBSTRESN/LBSTRESU: the value converted to the study's standard unit (clinical.units); "
            "LBNRIND from the reference range of the report or, without one, the site's table.",
            "LBLOBXFL: the last result per test dated on or before the first dose (RFXSTDTC, date only).",
            LB_TOXICITY,
            FINDINGS_DAY0,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- VS -------------------------------------------------------------------------------------------

VS_TESTS = (
    ("temperature_c", "TEMP", "Temperature", "C"),
    ("systolic_bp", "SYSBP", "Systolic Blood Pressure", "mmHg"),
    ("diastolic_bp", "DIABP", "Diastolic Blood Pressure", "mmHg"),
    ("heart_rate", "PULSE", "Pulse Rate", "beats/min"),
    ("respiratory_rate", "RESP", "Respiratory Rate", "breaths/min"),
    ("spo2", "OXYSAT", "Oxygen Saturation", "%"),
)


def _version_notes(model_path: str, tests: Iterable[tuple[str, str, str, str]]) -> list[str]:
    """Per test code from a field a later CRF version added (crf.versions): earlier records have
    no row for it."""
    from django.apps import apps

    from crf.versions import added_field_note

    model = apps.get_model(model_path)
    notes = [
        added_field_note(model, field_name, f"{model.crf_code}TESTCD {testcd}") for field_name, testcd, *_ in tests
    ]
    return [note for note in notes if note]


@register("VS", standard=SDTMIG, order=70)
def build_vs(ctx: BuildContext) -> list[Dataset]:
    """One row per vital sign measured (a record holds up to six), built a column at a time
    (issue 29 item 7): what a record's rows share derived once per record, then taken for each
    of its rows by position."""
    data: ExportData = ctx.data
    subjs = subjects(data)
    records = form_columns(
        data.forms["vitals"],
        ("id", "subject_id", "visit_id", "assessment_date", *(field_name for field_name, *_test in VS_TESTS)),
    )
    subj_of = list(map(subjs.__getitem__, records["subject_id"]))
    dates = records["assessment_date"]
    visits = data.visits_at(records["visit_id"], records["subject_id"], dates)
    # the rows: for each test in turn, the records that measured it
    record_of: list[int] = []
    test_of: list[int] = []
    values: list[Any] = []
    for number, (field_name, *_test) in enumerate(VS_TESTS):
        measured = records[field_name]
        present = [i for i, value in enumerate(measured) if value is not None]
        record_of.extend(present)
        test_of.extend([number] * len(present))
        values.extend(permuted(measured, present))
    count = len(record_of)
    texts, numbers = _texts_and_numbers(values)
    units = permuted([unit for *_test, unit in VS_TESTS], test_of)
    on = permuted(dates, record_of)
    columns = {
        "STUDYID": [data.study_code] * count,
        "DOMAIN": ["VS"] * count,
        "USUBJID": permuted([subj.usubjid for subj in subj_of], record_of),
        "VSTESTCD": permuted([testcd for _field, testcd, *_test in VS_TESTS], test_of),
        "VSTEST": permuted([test for _field, _testcd, test, _unit in VS_TESTS], test_of),
        "VSORRES": texts,
        "VSORRESU": units,
        "VSSTRESC": texts,
        "VSSTRESN": numbers,
        "VSSTRESU": units,
        "VISITNUM": permuted([visit[0] for visit in visits], record_of),
        "VISIT": permuted([visit[1] for visit in visits], record_of),
        "VSDTC": permuted(_iso_column(dates), record_of),
        "VSDY": permuted(_day_column(dates, [subj.ref for subj in subj_of]), record_of),
    }
    ids = permuted(records["id"], record_of)
    rows = _finish_findings_columns(data, columns, "VS", _first_doses(data, subjs), on, ids)
    supp = Supp("VS")
    dataset = make_dataset(
        "VS",
        standard=SDTMIG,
        ig_dataset="VS",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "VSSEQ",
            "VSTESTCD",
            "VSTEST",
            "VSORRES",
            "VSORRESU",
            "VSSTRESC",
            "VSSTRESN",
            "VSSTRESU",
            "VSLOBXFL",
            "VISITNUM",
            "VISIT",
            "EPOCH",
            "VSDTC",
            "VSDY",
        ],
        rows=rows,
        keys=("USUBJID", "VSSEQ"),
        notes=[
            "VSLOBXFL: the last result per test dated on or before the first dose.",
            FINDINGS_DAY0,
            *_version_notes("labs.VitalSigns", VS_TESTS),
        ],
    )
    return [dataset, supp.dataset(data)]


# --- MH -------------------------------------------------------------------------------------------


@register("MH", standard=SDTMIG, order=80)
def build_mh(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    rows = []
    for mh in data.forms["medical_history"]:
        subj = subjs[mh["subject_id"]]
        rows.append(
            _base(data, subj, "MH")
            | {
                "MHTERM": data.text("MH", "MHTERM", mh["condition"], "UNCODED NON-ASCII TERM"),
                "MHCAT": "GENERAL MEDICAL HISTORY",
                "MHSTDTC": mh["onset_date"] or None,
                "MHENDTC": mh["end_date"] or None,
                "MHENRTPT": "ONGOING" if mh["ongoing"] else None,
                "MHENTPT": "INFORMED CONSENT" if mh["ongoing"] else None,
                "_sort": (mh["onset_date"] or "", mh["id"]),
            }
        )
    _sequence(rows, "MH", "_sort")
    dataset = make_dataset(
        "MH",
        standard=SDTMIG,
        ig_dataset="MH",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "MHSEQ",
            "MHTERM",
            "MHCAT",
            "MHSTDTC",
            "MHENDTC",
            "MHENRTPT",
            "MHENTPT",
        ],
        rows=rows,
        keys=("USUBJID", "MHSEQ"),
        notes=[
            "History dates as recorded: partial ISO 8601 (YYYY or YYYY-MM) where the day or month is unknown; "
            "not imputed. Conditions are not MedDRA-coded (no MHDECOD).",
            "No study days: history precedes the study.",
        ],
    )
    return [dataset]


SDTM_CORE = ["DM", "EX", "AE", "CM", "DS", "LB", "VS", "MH"]


def all_rows(datasets: Iterable[Dataset]) -> int:
    return sum(len(d.rows) for d in datasets)
