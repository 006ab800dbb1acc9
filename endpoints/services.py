"""Endpoint runs: requesting one, computing it, and failing runs a dead worker left behind
(DESIGN §5, STYLE habits 3 and 7).

A run is a background job (`RUN_JOB`, the lifecycle of jobs.services): requested in one
transaction with its outbox row; the relay hands it to Celery (`endpoints.tasks.compute_endpoint_run`).
Computing reads the snapshot from the audit trail (endpoints.snapshot), reports progress in short
transactions of its own, and writes the results and the "succeeded" status in ONE transaction at
the end, guarded by the attempt number: a worker killed mid-run leaves no result at all (the
stuck-job recovery requeues it, or fails it past the time limit), and a superseded attempt
writes nothing.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from adverse_events.grade_course import course_of_row
from adverse_events.models import (
    AdverseEvent,
    CrsAssessment,
    CrsEpisode,
    DltCandidate,
    GvhdStaging,
    IcahtDerivation,
    IcansAssessment,
    IcansEpisode,
    IecHsAssessment,
)
from clinical.ae_course import max_grade_until
from clinical.protocol import ProtocolChoices
from endpoints import files, sensitivity, snapshot, tables, tables_efficacy, tables_toxicity
from endpoints.models import EndpointRun, RunTrigger
from jobs import services as jobs
from jobs.kinds import JobKind
from response.models import MarrowAssessment, MrdTest, Relapse
from study import access
from study.amendments import number_in_force
from study.audit_context import audit_context
from study.models import ProtocolSettings, Site, Study, VisitDefinition
from study.roles import Action
from subjects.models import CellCollection, ConcomitantMedication, InformedConsent, Infusion, Subject
from survival.models import Death, FollowUpContact, SubsequentTherapy

if TYPE_CHECKING:
    from study.models import User

TASK_NAME = "endpoints.tasks.compute_endpoint_run"
#: the job kind of a run (jobs.kinds; registered in EndpointsConfig.ready): its audit reasons say
#: "endpoint run started", "endpoint run failed", …
RUN_JOB = JobKind(model=EndpointRun, noun="endpoint run", task_name=TASK_NAME, id_kwarg="run_id")


#: Every table of a run, in the order the page, the JSON and the files show them.
BUILDERS = (*tables.BUILDERS, *tables_toxicity.BUILDERS, *tables_efficacy.BUILDERS)


def build_tables(data: tables.CutData) -> list[dict[str, Any]]:
    pop = tables.population(data)
    return [build(data, pop) for build in BUILDERS]


@transaction.atomic
def request_run(
    *,
    actor: User | None,
    study: Study,
    cutoff_date: date,
    snapshot_at: datetime | None = None,
    trigger: str = RunTrigger.PAGE,
    rederive_at_cutoff: bool = False,
    now: datetime | None = None,
) -> EndpointRun:
    """Record a run request and its outbox row in one transaction. `actor` None is the nightly
    schedule. The snapshot may not be in the future (the past is rebuilt from the audit trail).
    `rederive_at_cutoff` also asks for the sensitivity analysis (endpoints.sensitivity)."""
    now = now or timezone.now()
    if actor is not None and not access.can_anywhere(actor, Action.START_ENDPOINT_RUNS, study=study):
        raise PermissionDenied
    errors = jobs.data_cut_errors(cutoff_date=cutoff_date, snapshot_at=snapshot_at, now=now)
    if errors:
        raise ValidationError(errors)
    run = EndpointRun(
        study=study,
        requested_by=actor,
        requested_at=now,
        trigger=trigger,
        cutoff_date=cutoff_date,
        snapshot_at=snapshot_at,
        rederive_at_cutoff=rederive_at_cutoff,
        protocol_version=number_in_force(study, cutoff_date),
    )
    return jobs.request(RUN_JOB, run, actor=actor)


def settings_for(study: Study, at: datetime) -> tuple[int | None, ProtocolChoices]:
    """The settings version current at the snapshot (DESIGN §4): the newest version recorded by
    then and effective on or before the snapshot date; the first version when none is yet."""
    versions = snapshot.rows_as_of(ProtocolSettings, at, study_id=study.pk)
    if not versions:
        return None, ProtocolChoices()
    on = timezone.localdate(at, timezone=timezone.get_fixed_timezone(0))
    effective = [v for v in versions if v["effective_from"] <= on] or [min(versions, key=lambda v: v["version"])]
    chosen = max(effective, key=lambda v: (v["effective_from"], v["version"]))
    return chosen["version"], ProtocolChoices.from_json(chosen["values"])


#: What a run reads of each model beyond issue 11's rows: (CutData attribute, model, columns).
#: Only the columns the tables use are read, to keep a 10,000-subject cut small (bench/).
EPISODE_COLUMNS = [
    "subject_id",
    "number",
    "onset_date",
    "last_date",
    "derived_grade",
    "adjudicated_grade",
    "superseded",
    "settings_version",
]
EXTRA_INPUTS: tuple[tuple[str, type[Model], list[str]], ...] = (
    ("crs_assessments", CrsAssessment, ["subject_id", "assessment_date", "grade", "settings_version"]),
    (
        "crs_episodes",
        CrsEpisode,
        EPISODE_COLUMNS,
    ),
    ("icans_assessments", IcansAssessment, ["subject_id", "assessment_date", "grade", "evaluable", "settings_version"]),
    (
        "icans_episodes",
        IcansEpisode,
        EPISODE_COLUMNS,
    ),
    ("conmeds", ConcomitantMedication, ["subject_id", "category", "start_date", "stop_date"]),
    ("icaht", IcahtDerivation, ["subject_id", "inputs"]),
    ("iec_hs", IecHsAssessment, ["subject_id", "assessment_date", "present", "onset_date", "grade"]),
    ("gvhd", GvhdStaging, ["subject_id", "assessment_date", "overall_grade"]),
    (
        "dlt_candidates",
        DltCandidate,
        ["subject_id", "key", "criterion", "onset_day", "withdrawn", "status"],
    ),
    (
        "marrow_assessments",
        MarrowAssessment,
        [
            "subject_id",
            "assessment_date",
            "marrow_blasts_pct",
            "is_baseline",
            "response",
            "adjudicated_response",
            "mrd_status",
            "settings_version",
        ],
    ),
    (
        "mrd_tests",
        MrdTest,
        [
            "subject_id",
            "assessment_id",
            "sample_date",
            "method",
            "detected",
            "level_pct",
            "sensitivity",
            "cells_analysed",
            "settings_version",
        ],
    ),
    (
        "relapses",
        Relapse,
        [
            "subject_id",
            "relapse_date",
            "site_marrow",
            "site_blood",
            "site_cns",
            "site_other_emd",
            "blast_cd7_status",
        ],
    ),
    ("subsequent_therapies", SubsequentTherapy, ["subject_id", "therapy_type", "start_date", "consolidative", "donor"]),
    ("follow_ups", FollowUpContact, ["subject_id", "contact_date", "alive"]),
)


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused (then restored as it was) while a run builds its
    ~10^6 rows and tables: each full collection walked every object already made, about a
    quarter of a run's CPU time at 3,000 subjects and more as the heap grows (issue 30 item 6).
    The rows hold no reference cycles; reference counting frees them as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: The AE columns a run reads (issue 30 item 6): those the tables use (tables._teae and the TEAE
#: and lymphodepletion tables) and the grade course read at the cut-off (`at_cutoff`), not the
#: forty of the form; the key and `entered_in_error` come with every read. Scheme v1 of the
#: input digest covered every column: a v1 run is verified on the full rows (`load_cut`).
AE_COLUMNS = [
    "subject_id",
    "ctcae_term",
    "verbatim",
    "soc",
    "grade",
    "grade_course",
    "onset_date",
    "serious",
    "relationship_lymphodepletion",
    "collection_period",
]

#: The columns of the subjects' history a run reads (tables.population, the DLT evaluability's
#: withdrawals), with the version's label and key; every column for a v1 digest, as AE_COLUMNS.
SUBJECT_HISTORY_COLUMNS = ["status", "status_date", "not_infused_reason"]


#: work_mem of the snapshot reads (PostgreSQL, per sort; the session's default is 4 MB)
SNAPSHOT_WORK_MEM = "64MB"


def load_cut(
    study: Study,
    *,
    cutoff: date,
    at: datetime,
    subject_ids: list[int] | None = None,
    digest_scheme: str | None = None,
) -> tuple[tables.CutData, int | None, str]:
    """The run's inputs at snapshot `at`, its settings version and the digest of the inputs
    (`input_digest` under `digest_scheme`, the current scheme by default; "" with
    `digest_scheme=NO_DIGEST`, for readers that do not record one). The AEs and the subjects'
    history are read with `AE_COLUMNS` and `SUBJECT_HISTORY_COLUMNS` only, but with every column
    under scheme v1 (the rows its digests covered).
    One query per model (never per subject): subjects of the study's sites, then every tracked
    model's rows of those subjects as they stood at `at` (endpoints.snapshot; the reads stream
    and share repeated values, `snapshot.Shared`). `subject_ids` limits it to those subjects (an
    export's chunk of subjects, exports.chunked)."""
    shared = snapshot.Shared()
    with without_cyclic_gc(), transaction.atomic(), connection.cursor() as cursor:
        # The snapshot sorts each history table by record (DISTINCT ON): with the default 4 MB
        # these sorts spilled to disk from 1,000 subjects (issue 30 item 6). For these reads only.
        cursor.execute(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'")
        site_ids = list(Site.objects.filter(study=study).values_list("pk", flat=True))
        limit = None if subject_ids is None else snapshot.any_of("pgh_obj_id", list(subject_ids))
        subjects = snapshot.rows_as_of(Subject, at, shared=shared, site_id__in=site_ids, where=limit)
        ids = [row["id"] for row in subjects]
        version, choices = settings_for(study, at)

        of_subjects = snapshot.any_of("subject_id", ids)

        def read(model: type[Model], columns: list[str] | None = None) -> list[dict[str, Any]]:
            return snapshot.rows_as_of(model, at, fields=columns, shared=shared, where=of_subjects)

        extra = {name: read(model, columns) for name, model, columns in EXTRA_INPUTS}
        ae_columns = None if digest_scheme == INPUT_DIGEST_V1 else AE_COLUMNS
        data = tables.CutData(
            cutoff=cutoff,
            subjects=subjects,
            subject_history=snapshot.history_as_of(
                Subject,
                at,
                fields=None if digest_scheme == INPUT_DIGEST_V1 else SUBJECT_HISTORY_COLUMNS,
                shared=shared,
                where=snapshot.any_of("pgh_obj_id", ids),
            ),
            consents=read(InformedConsent),
            collections=read(CellCollection),
            infusions=read(Infusion),
            adverse_events=[at_cutoff(row, cutoff) for row in read(AdverseEvent, ae_columns)],
            deaths=read(Death),
            choices=choices,
            visit_definitions=snapshot.rows_as_of(
                VisitDefinition,
                at,
                fields=["code", "anchor", "day", "window_before", "window_after"],
                shared=shared,
                study_id=study.pk,
            ),
            **extra,
        )
    if digest_scheme == NO_DIGEST:
        return data, version, ""
    digest = input_digest(cutoff=cutoff, choices=choices, version=version, data=data, scheme=digest_scheme)
    return data, version, digest


# --- the input digest ------------------------------------------------------------------------
#: The schemes of a run's input digest (issue 30 item 6). A run records the scheme its digest
#: was computed with as a prefix of `input_sha256` ("v2:<64 hex>"); a bare 64-hex digest is
#: scheme v1, the runs computed before v2. New runs use `INPUT_DIGEST_SCHEME`; checking a run
#: (`verify_inputs`) recomputes the digest under the run's own scheme.
INPUT_DIGEST_V1 = "v1"
INPUT_DIGEST_V2 = "v2"
INPUT_DIGEST_SCHEME = INPUT_DIGEST_V2
#: `load_cut(digest_scheme=NO_DIGEST)`: no digest (an export's reads, which record none)
NO_DIGEST = "none"


def digest_scheme_of(stored: str) -> str:
    """The scheme of a stored input digest: its prefix before ":", v1 when it has none."""
    scheme, separator, _hex = stored.partition(":")
    return scheme if separator else INPUT_DIGEST_V1


def input_digest(
    *, cutoff: date, choices: ProtocolChoices, version: int | None, data: tables.CutData, scheme: str | None = None
) -> str:
    """The digest of a run's inputs under `scheme` (`INPUT_DIGEST_SCHEME` by default), as stored
    on the run: "v2:<hex>" (`input_digest_v2`), or the bare hex of v1 (`input_digest_v1`)."""
    scheme = scheme or INPUT_DIGEST_SCHEME
    if scheme == INPUT_DIGEST_V2:
        return f"{INPUT_DIGEST_V2}:{input_digest_v2(cutoff=cutoff, choices=choices, version=version, data=data)}"
    if scheme == INPUT_DIGEST_V1:
        return input_digest_v1(cutoff=cutoff, choices=choices, version=version, data=data)
    raise ValueError(f"unknown input digest scheme {scheme!r}")


#: The first line hashed by scheme v2 (its name and version, so no other text hashes the same).
DIGEST_V2_HEADER = "trialsite endpoint inputs, digest v2"
#: Rows written per piece of the v2 digest (a piece's text is about 0.5 kB per AE row).
DIGEST_V2_CHUNK_ROWS = 2000


def input_digest_v2(*, cutoff: date, choices: ProtocolChoices, version: int | None, data: tables.CutData) -> str:
    """SHA-256 (hex) of the run's inputs written as Python literals, one line each (scheme v2,
    issue 30 item 6): the UTF-8 bytes of

        repr((DIGEST_V2_HEADER, cutoff, settings_version, canonical JSON of the settings)) "\n"
        then per input, in `tables.CutData.INPUTS` order sorted by name:
        repr((name, number of rows, keys)) "\n", then per row repr(tuple(row.values())) "\n"

    where `keys` is the tuple of the keys its rows share (then each row is written by its
    values); when its rows do not all have the same keys, `keys` is None and each row is written
    as repr(tuple(row.items())). `repr` of the values the snapshot holds — int, bool, None, str,
    date, datetime, Decimal, and the lists and dicts of JSON fields — is exact and tells the
    types apart (1, True, '1' and Decimal('1') are written differently; a decimal keeps its
    exponent, a date-time its time zone), and a literal holds no raw line break, so the lines
    cannot run into each other. The text is made by `repr`, `map` and `join` in C, a piece of
    `DIGEST_V2_CHUNK_ROWS` rows at a time: about a third of v1's time, which called back into
    Python for every date and decimal and sorted every row's keys (v1 was half of `load_cut`
    at 10,000 subjects). The digest depends on the values and their order only, never on the
    process (no hash or id enters it): tests/endpoints/test_input_digest.py."""
    digest = hashlib.sha256()
    header = (DIGEST_V2_HEADER, cutoff, version, tables.canonical_json(choices.to_json(), refuse_floats=False))
    digest.update(f"{header!r}\n".encode())
    for name in sorted(tables.CutData.INPUTS):
        rows: list[dict[str, Any]] = getattr(data, name)
        shapes = set(map(tuple, map(dict.keys, rows)))
        keys = next(iter(shapes)) if len(shapes) == 1 else None if shapes else ()
        digest.update(f"{(name, len(rows), keys)!r}\n".encode())
        lines = map(tuple, map(dict.values if keys is not None else dict.items, rows))
        for _piece in range(0, len(rows), DIGEST_V2_CHUNK_ROWS):
            piece = "\n".join(map(repr, islice(lines, DIGEST_V2_CHUNK_ROWS)))
            digest.update(piece.encode())
            digest.update(b"\n")
    return digest.hexdigest()


def verify_inputs(run: EndpointRun) -> bool:
    """Whether the inputs of `run`, read again from the audit trail at its snapshot and cut-off,
    give the digest it recorded, under the run's own scheme (v1 for the runs computed before v2).
    Later edits do not change them (endpoints.snapshot): a mismatch means the history differs."""
    if not run.input_sha256 or run.snapshot_at is None:
        return False
    scheme = digest_scheme_of(run.input_sha256)
    _data, _version, digest = load_cut(run.study, cutoff=run.cutoff_date, at=run.snapshot_at, digest_scheme=scheme)
    return digest == run.input_sha256


#: Rows of one input encoded per piece of the v1 digest: the JSON of a whole input at 10,000
#: subjects (~100 MB for the AEs) was the run's peak memory (issue 30 item 6).
DIGEST_CHUNK_ROWS = 200


def input_digest_v1(*, cutoff: date, choices: ProtocolChoices, version: int | None, data: tables.CutData) -> str:
    """Scheme v1, the runs computed before v2 (kept to verify them): SHA-256 of the canonical
    JSON of the run's inputs: {"cutoff", "inputs": {name: rows}, "settings", "settings_version"},
    sorted keys, no spaces. Written and hashed one input at a
    time, with dates and decimals turned to text by the encoder (`_plain_value`) instead of a
    copy of every row (issue 30 item 6: the copies and the whole document in memory were a
    third of `load_cut`'s time and of its peak memory), each input `DIGEST_CHUNK_ROWS` rows at a
    time: a list's JSON is its items' JSON joined by commas inside brackets. The bytes hashed are
    those of `tables.canonical_json` over `_plain` rows (bench/input_digest.py compares them)."""
    digest = hashlib.sha256()
    encoder = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain_value)
    dump = encoder.encode

    digest.update(f'{{"cutoff":{dump(cutoff.isoformat())},"inputs":{{'.encode())
    for number, name in enumerate(sorted(tables.CutData.INPUTS)):
        rows = getattr(data, name)
        digest.update(f"{',' if number else ''}{dump(name)}:[".encode())
        for start in range(0, len(rows), DIGEST_CHUNK_ROWS):
            piece = dump(rows[start : start + DIGEST_CHUNK_ROWS])  # "[row,row,…]"
            digest.update(f"{',' if start else ''}{piece[1:-1]}".encode())
        digest.update(b"]")
    digest.update(f'}},"settings":{dump(choices.to_json())},"settings_version":{dump(version)}}}'.encode())
    return digest.hexdigest()


def _plain_value(value: Any) -> Any:
    """`_plain` for one value the JSON encoder does not know (a date, a date-time, a decimal)."""
    convert = _PLAIN.get(type(value))
    if convert is None:
        return tables._refuse_floats(value)
    return convert(value)


def at_cutoff(ae: dict[str, Any], cutoff: date) -> dict[str, Any]:
    """An AE row as it stood at the cut-off (issue 30): `grade` is the highest grade of its
    dated course reached on or before the cut-off — a rise after the cut-off does not count —
    and `grade_at_snapshot` the maximum as recorded at the snapshot. The row read for the run is
    completed in place (the same keys in the same order as a copy, without a second copy of
    every AE at 10,000 subjects, issue 30 item 6)."""
    stored = ae.get("grade_course")
    if not stored or len(stored) == 1:  # most AEs: one grade; no GradeChange built (issue 30 item 6)
        begun, grade = (ae["onset_date"], ae["grade"]) if not stored else _only_entry(stored[0])
        reached = grade if begun <= cutoff else None
    else:
        reached = max_grade_until(course_of_row(ae), cutoff)
    ae["grade_at_snapshot"] = ae["grade"]
    if reached is not None:
        ae["grade"] = reached
    return ae


def _only_entry(entry: dict[str, Any]) -> tuple[date, int]:
    """The date and grade of a course's one stored entry, as `clinical.ae_course.from_stored`
    reads them."""
    begun = entry["from"]
    return (begun if isinstance(begun, date) else date.fromisoformat(begun)), int(entry["grade"])


#: How `_plain` writes a value of each exact type (everything else — int, str, bool, None, the
#: lists and dicts of JSON fields — is kept): one dict lookup per value instead of a chain of
#: isinstance tests (issue 30 item 6: `_plain` was a quarter of `load_cut`).
_PLAIN: dict[type, Any] = {date: date.isoformat, datetime: datetime.isoformat, Decimal: str, float: repr}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    plain = _PLAIN
    return {key: (plain[type(value)](value) if type(value) in plain else value) for key, value in row.items()}


def results_document(
    *,
    cutoff: date,
    at: datetime,
    version: int | None,
    built: list[dict[str, Any]],
    sensitivity: dict[str, Any] | None = None,
) -> str:
    """The canonical JSON of a run's tables with the cut they describe; with the sensitivity
    analysis, its tables beside them under "sensitivity" (each marked "analysis": "sensitivity")."""
    document: dict[str, Any] = {
        "cut": {
            "cutoff_date": cutoff.isoformat(),
            "snapshot_at": at.astimezone(timezone.get_fixed_timezone(0)).isoformat(),
            "settings_version": version,
            "day_convention": "clinical Day-0 clock: first infusion day = day 0",
            "ci": "exact Clopper-Pearson 95%",
        },
        "tables": built,
    }
    if sensitivity is not None:
        document["sensitivity"] = sensitivity
    return tables.canonical_json(document)


SENSITIVITY_BASIS = "derived inputs re-derived in memory under the settings version in force at the cut-off"


def sensitivity_part(study: Study, data: tables.CutData, *, at: datetime) -> tuple[dict[str, Any], int | None]:
    """The sensitivity analysis of a run (issue 30 item 4): the same tables over the cut whose
    derived inputs are re-derived under the cut-off's settings version; marked as such."""
    found = sensitivity.rederive_at_cutoff(study, data, at=at)
    pop = tables.population(found.data)
    built = [{**build(found.data, pop), "analysis": "sensitivity"} for build in BUILDERS]
    part = {
        "analysis": "sensitivity",
        "basis": SENSITIVITY_BASIS,
        "settings_version": found.settings_version,
        "effective_from": None if found.effective_from is None else found.effective_from.isoformat(),
        "rederived": found.changed,
        "tables": built,
    }
    return part, found.settings_version


def compute_run(*, run_id: int, now: datetime | None = None) -> EndpointRun:
    """Compute one run (idempotent: a finished run is left as it is)."""
    return jobs.run(RUN_JOB, run_id, work=_compute, save_result=_save_results, now=now)


def _compute(run: EndpointRun, report: Callable[[int], None]) -> tuple[Any, ...]:
    """The run's tables and files, computed with no write but progress (the worker's heartbeat
    beats meanwhile, jobs.services.beating)."""
    assert run.snapshot_at is not None
    with without_cyclic_gc():
        return _compute_tables(run, report)


def _compute_tables(run: EndpointRun, report: Callable[[int], None]) -> tuple[Any, ...]:
    assert run.snapshot_at is not None
    data, version, digest = load_cut(run.study, cutoff=run.cutoff_date, at=run.snapshot_at)
    report(20)
    pop = tables.population(data)
    built = []
    for index, build in enumerate(BUILDERS, start=1):
        built.append(build(data, pop))
        if settings.ENDPOINT_RUN_STEP_PAUSE_SECONDS:
            time.sleep(min(float(settings.ENDPOINT_RUN_STEP_PAUSE_SECONDS), 60.0))
        report(20 + 60 * index // len(BUILDERS))
    extra, extra_version = (
        sensitivity_part(run.study, data, at=run.snapshot_at) if run.rederive_at_cutoff else (None, None)
    )
    document = results_document(
        cutoff=run.cutoff_date, at=run.snapshot_at, version=version, built=built, sensitivity=extra
    )
    every = built + (extra["tables"] if extra else [])
    csv_text = files.tables_csv(every)
    xlsx = files.tables_xlsx(every, stamped=run.snapshot_at)
    report(90)
    return data, version, digest, extra_version, document, csv_text, xlsx


def _save_results(run: EndpointRun, computed: tuple[Any, ...]) -> list[str]:
    """In the run's final transaction (jobs.services.run): the results on the run."""
    data, version, digest, extra_version, document, csv_text, xlsx = computed
    run.settings_version = version
    run.sensitivity_settings_version = extra_version
    run.input_settings_versions = tables.input_settings_versions(data)
    run.input_sha256 = digest
    run.results_json = document
    run.results_sha256 = hashlib.sha256(document.encode()).hexdigest()
    run.results_csv = csv_text
    run.results_xlsx = xlsx
    return [
        *("settings_version", "sensitivity_settings_version", "input_settings_versions", "input_sha256"),
        *("results_json", "results_sha256", "results_csv", "results_xlsx"),
    ]


@transaction.atomic
def discard_results(*, actor: User | None, run: EndpointRun, reason: str) -> EndpointRun:
    """Delete a run's stored tables and files (the run's record and hashes stay, audited)."""
    if actor is not None and not access.can_anywhere(actor, Action.START_ENDPOINT_RUNS, study=run.study):
        raise PermissionDenied
    with audit_context(user=actor, reason=reason):
        run.results_json = ""
        run.results_csv = ""
        run.results_xlsx = None
        run.results_discarded_at = timezone.now()
        run.save(update_fields=["results_json", "results_csv", "results_xlsx", "results_discarded_at"])
    return run


def request_nightly_runs(*, now: datetime | None = None) -> list[EndpointRun]:
    """The nightly run of every study with protocol settings: cut-off = yesterday (UTC), the
    last whole day, snapshot = when it starts."""
    now = now or timezone.now()
    jobs.fail_stuck(RUN_JOB, now=now)
    studies = Study.objects.filter(protocol_settings__isnull=False).distinct().order_by("pk")
    cutoff = now.date() - timezone.timedelta(days=1)
    return [
        request_run(actor=None, study=study, cutoff_date=cutoff, trigger=RunTrigger.NIGHTLY, now=now)
        for study in studies
    ]
