"""Conformance checks run on every export, from the IG metadata (exports.metadata) and the
controlled terminology (exports.ct): required variables present and never empty, expected ones
present or their omission documented, no variable the IG does not know (non-standard variables
belong in SUPP--), types and labels as the IG gives them, names ≤ 8, labels ≤ 40, text ≤ 200
bytes and ASCII (SAS transport v5), codelist terms, unique keys (USUBJID + --SEQ), ISO 8601
dates and durations. Pure: datasets in, findings out."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from exports import ct, metadata
from exports.datasets import Dataset, row_tuples
from exports.findings import ERROR, NOTE, WARNING, Finding
from exports.writers import xpt_problems

# ISO 8601 as SDTM uses it: complete or partial (right-truncated) date / date-time, no zone.
ISO_DATETIME = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?$")
ISO_DURATION = re.compile(r"^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
#: stop reporting one check on one variable after this many rows (the count is given)
MAX_ROWS_PER_CHECK = 5


def _valid_date(text: str) -> bool:
    if not ISO_DATETIME.match(text):
        return False
    parts = text[:10].split("-")
    if len(parts) >= 2 and not 1 <= int(parts[1]) <= 12:
        return False
    if len(parts) == 3:
        from datetime import date

        try:
            date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            return False
    return True


def check_dataset(dataset: Dataset) -> list[Finding]:
    out: list[Finding] = []
    name = dataset.name

    def add(severity: str, check: str, message: str, variable: str = "", row: int | None = None) -> None:
        out.append(Finding(severity, check, name, message, variable, row))

    try:
        ig = {m.name: m for m in metadata.variables(dataset.standard, dataset.ig_dataset)}
    except KeyError:
        add(ERROR, "ig-dataset", f"{dataset.ig_dataset} is not a dataset of {dataset.standard}")
        return out
    if dataset.standard == metadata.ADAMIG:
        return _check_adam(dataset, add, out)
    present = {c.name: c for c in dataset.columns}

    for meta in ig.values():
        if meta.name in present:
            continue
        if meta.core == "Req":
            add(ERROR, "required-missing", "required variable is missing", meta.name)
        elif meta.core == "Exp":
            reason = dataset.omitted.get(meta.name)
            if reason:
                add(NOTE, "expected-omitted", f"expected variable left out: {reason}", meta.name)
            else:
                add(
                    WARNING,
                    "expected-missing",
                    "expected variable is missing and its omission is not documented",
                    meta.name,
                )

    for column in dataset.columns:
        meta = ig.get(column.name)
        if meta is None:
            add(ERROR, "unknown-variable", f"not a variable of {dataset.ig_dataset} in {dataset.standard}", column.name)
            continue
        stored = "Num" if column.type == "Date" else column.type
        if stored != meta.type:
            add(ERROR, "type", f"type {column.type}, the IG says {meta.type}", column.name)
        if column.label != meta.label:
            add(WARNING, "label", f"label {column.label!r}, the IG says {meta.label!r}", column.name)
        values = dataset.values(column.name)
        if meta.core == "Req":
            empty = [i for i, v in enumerate(values, start=1) if v is None or v == ""]
            for row in empty[:MAX_ROWS_PER_CHECK]:
                add(ERROR, "required-empty", "required variable has no value", column.name, row)
            if len(empty) > MAX_ROWS_PER_CHECK:
                add(ERROR, "required-empty", f"{len(empty)} rows in all have no value", column.name)
        if meta.iso8601 and column.type == "Char":
            pattern_ok = _valid_date if meta.iso8601 == "datetime" else (lambda t: bool(ISO_DURATION.match(t)))
            bad = [(i, v) for i, v in enumerate(values, start=1) if v and not pattern_ok(v)]
            for row, value in bad[:MAX_ROWS_PER_CHECK]:
                add(ERROR, "iso8601", f"{value!r} is not an ISO 8601 {meta.iso8601}", column.name, row)
        _check_codelists(add, column.name, meta.codelists, values)

    out.extend(xpt_problems(dataset))
    _check_keys(add, dataset)
    return out


def _check_adam(dataset: Dataset, add, out: list[Finding]) -> list[Finding]:  # type: ignore[no-untyped-def]
    """ADaMIG 1.3: required variables of the structure present (a templated one such as TRTxxP by
    any concrete name, TRT01P) and never empty; each other variable an IG variable (type and label
    as the IG gives them; a generic label such as "{Date}" is the sponsor's) or sponsor-defined
    with its own label (ADaM allows those, reported as notes); then the transport and key checks."""
    structure = dataset.ig_dataset
    matched = {c.name: metadata.adam_match(structure, c.name) for c in dataset.columns}
    for meta in metadata.adam_required(structure):
        pattern = metadata.template(meta.name)
        if not any(name == meta.name or (pattern and pattern.match(name)) for name in matched):
            add(ERROR, "required-missing", "required variable is missing", meta.name)
    for column in dataset.columns:
        meta = matched[column.name]
        if meta is None:
            if column.label:
                add(NOTE, "sponsor-variable", f"sponsor-defined variable: {column.label}", column.name)
            else:
                add(ERROR, "unknown-variable", f"not a variable of {structure} and has no label", column.name)
            continue
        stored = "Num" if column.type == "Date" else column.type
        if stored != meta.type:
            add(ERROR, "type", f"type {column.type}, the IG says {meta.type}", column.name)
        if "{" not in meta.label and column.label != meta.label:
            add(WARNING, "label", f"label {column.label!r}, the IG says {meta.label!r}", column.name)
        values = dataset.values(column.name)
        if meta.core == "Req":
            empty = [i for i, v in enumerate(values, start=1) if v is None or v == ""]
            if (dataset.name, column.name) in NULL_AS_SOURCE:
                if empty:
                    add(NOTE, "null-as-source", f"{len(empty)} rows null as their SDTM source (ADSL-ARM)", column.name)
                empty = []
            for row in empty[:MAX_ROWS_PER_CHECK]:
                add(ERROR, "required-empty", "required variable has no value", column.name, row)
            if len(empty) > MAX_ROWS_PER_CHECK:
                add(ERROR, "required-empty", f"{len(empty)} rows in all have no value", column.name)
        _check_codelists(add, column.name, meta.codelists, values)
    out.extend(xpt_problems(dataset))
    _check_keys(add, dataset)
    return out


def _check_codelists(add, variable: str, codes: tuple[str, ...], values: list[object]) -> None:  # type: ignore[no-untyped-def]
    if not codes:
        return
    if variable.endswith("STRESC"):
        # the standard character result's codelist covers coded results, not numbers as text
        values = [v for v in values if not (isinstance(v, str) and NUMBER.match(v))]
        if not values:
            return
    lists = [ct.CODELISTS[code] for code in codes if code in ct.CODELISTS]
    if not lists:
        add(
            NOTE,
            "codelist-not-shipped",
            f"codelist {', '.join(codes)}: terms not shipped, values not checked",
            variable,
        )
        return
    terms = set().union(*(cl.terms for cl in lists))
    extensions = set().union(*(cl.extensions for cl in lists))
    extensible = any(cl.extensible for cl in lists)
    counted: Counter[str] = Counter(v for v in values if isinstance(v, str) and v and v not in terms)
    names = ", ".join(f"{cl.code} {cl.name}" for cl in lists)
    for value, count in sorted(counted.items()):
        row = next(i for i, v in enumerate(values, start=1) if v == value)
        if value in extensions:
            add(NOTE, "codelist-extension", f"{value!r} ({count} rows): documented sponsor term in {names}", variable)
        elif extensible:
            add(WARNING, "codelist", f"{value!r} ({count} rows) is not a term of {names} (extensible)", variable, row)
        else:
            add(ERROR, "codelist", f"{value!r} ({count} rows) is not a term of {names}", variable, row)


def _check_keys(add, dataset: Dataset) -> None:  # type: ignore[no-untyped-def]
    if not dataset.keys:
        return
    missing = [k for k in dataset.keys if k not in {c.name for c in dataset.columns}]
    if missing:
        add(ERROR, "keys", f"key variables missing: {', '.join(missing)}")
        return
    found = _repeated_keys(dataset, by_subject=True)
    if found is None:
        found = _repeated_keys(dataset, by_subject=False)
    duplicates, first = found or (0, [])
    for number, key, earlier in first:
        add(ERROR, "unique-keys", f"{'+'.join(dataset.keys)} {key} repeats row {earlier}", row=number)
    if duplicates > MAX_ROWS_PER_CHECK:
        add(ERROR, "unique-keys", f"{duplicates} duplicate keys in all")


def _repeated_keys(
    dataset: Dataset, *, by_subject: bool
) -> tuple[int, list[tuple[int, tuple[object, ...], int]]] | None:
    """How many rows repeat an earlier row's key, and the first MAX_ROWS_PER_CHECK of them (row,
    key, the earlier row). `by_subject` (keys with USUBJID, the subject's rows together, as the
    builders sort them) remembers one subject's keys at a time, so the memory does not grow with
    the number of subjects (issue 29 item 7); None when a subject's rows are not together."""
    keys = dataset.keys
    if by_subject and "USUBJID" not in keys:
        return None
    seen: dict[tuple[object, ...], int] = {}
    done: set[object] = set()
    current: object = object()
    duplicates = 0
    first: list[tuple[int, tuple[object, ...], int]] = []
    for number, values in enumerate(row_tuples(dataset.rows, [*keys, "USUBJID"]), start=1):
        key = values[:-1]
        if by_subject and values[-1] != current:
            if values[-1] in done:
                return None
            done.add(current)
            current = values[-1]
            seen = {}
        if key in seen:
            duplicates += 1
            if len(first) < MAX_ROWS_PER_CHECK:
                first.append((number, key, seen[key]))
        else:
            seen[key] = number
    return duplicates, first


#: datasets whose records are dated subject-level events, interventions or findings: EPOCH expected
#: (FDA business rule FB2201). MH is left out: history precedes the study (no epoch); GF too: SDTMIG 3.4
#: gives GF no EPOCH variable.
EPOCH_DATASETS = {"AE", "CM", "EX", "DS", "LB", "VS", "RS", "PR", "HO", "DV", "FA", "CE", "CP", "IE"}

#: the cross-dataset rules, each with the FDA business rule it follows (docs/exports.md)
RULES = {
    "FB0609": "A subject who died (DM.DTHFL = Y) has an AE with AESDTH = Y or AEOUT = FATAL; a death "
    "explained in DD (e.g. disease progression) is a warning, an unexplained one an error",
    "FB0920": "A SUPP-- QNAM has one QLABEL",
    "FB2201": "EPOCH is present in the subject-level events, interventions and findings datasets",
    "TA-ARMCD": "Every DM.ARMCD and ACTARMCD is an arm of TA",
    "ADSL-ARM": "ADSL.ARM is identical to DM.ARM for every subject (ADaMIG 1.3: source DM.ARM); it is null "
    "exactly where DM.ARM is null (SDTMIG 3.4: ARMNRS gives the reason, e.g. SCREEN FAILURE)",
    "RELREC-REF": "Every RELREC record refers to a dataset of the export and, for a record-level relationship, to "
    "an existing record (USUBJID and IDVAR = IDVARVAL); a dataset-level one (no USUBJID) to a variable of it",
    "RELREC-RELID": "Every relationship (RELID within USUBJID) relates at least two records, of at least two "
    "datasets or by RELTYPE ONE/MANY",
    "MRD-DOMAIN": "MRD is not a response test: no RS record tests or reports MRD (RSTESTCD MRD*, an RS result naming "
    "MRD); flow-cytometry MRD is in CP, molecular MRD in GF (SDTMIG 3.4)",
    "RS-VISITNUM": "Every collected RS record (RSDRVFL not Y) has VISITNUM (SDTMIG 3.4: expected)",
    "LOBXFL": "Each subject's last LB / VS result per test dated on or before the first dose (DM.RFXSTDTC) has "
    "--LOBXFL = Y, and only that one",
}
#: ADaM required variables that may be null where their SDTM source is null (checked by ADSL-ARM)
NULL_AS_SOURCE = {("ADSL", "ARM")}


def cross_checks(datasets: Iterable[Dataset]) -> list[Finding]:
    """The rules that read more than one dataset, or a dataset's content as a whole (RULES)."""
    by_name = {d.name: d for d in datasets}
    out: list[Finding] = []
    for dataset in by_name.values():
        has_epoch = "EPOCH" in {c.name for c in dataset.columns}
        if dataset.standard == metadata.SDTMIG and dataset.name in EPOCH_DATASETS and dataset.rows and not has_epoch:
            out.append(Finding(ERROR, "FB2201", dataset.name, "EPOCH is missing", "EPOCH"))
        if dataset.name.startswith("SUPP") and dataset.rows:
            labels: dict[str, set[str]] = {}
            for row in dataset.rows:
                labels.setdefault(row["QNAM"], set()).add(row["QLABEL"])
            for qnam, found in sorted(labels.items()):
                if len(found) > 1:
                    out.append(Finding(ERROR, "FB0920", dataset.name, f"QNAM {qnam} has {len(found)} labels", "QLABEL"))
    dm, ae, dd, ta = (by_name.get(n) for n in ("DM", "AE", "DD", "TA"))
    if dm is not None and ae is not None:
        fatal = {r["USUBJID"] for r in ae.rows if r.get("AESDTH") == "Y" or r.get("AEOUT") == "FATAL"}
        causes = {r["USUBJID"]: r.get("DDSTRESC") for r in (dd.rows if dd is not None else [])}
        for number, row in enumerate(dm.rows, start=1):
            if row.get("DTHFL") != "Y" or row["USUBJID"] in fatal:
                continue
            if row["USUBJID"] in causes:
                out.append(
                    Finding(
                        WARNING,
                        "FB0609",
                        "DM",
                        f"{row['USUBJID']} died without a fatal AE: explained in DD (primary cause "
                        f"{causes[row['USUBJID']]})",
                        "DTHFL",
                        number,
                    )
                )
            else:
                out.append(
                    Finding(
                        ERROR, "FB0609", "DM", f"{row['USUBJID']} died: no fatal AE and no DD record", "DTHFL", number
                    )
                )
    adsl = by_name.get("ADSL")
    if dm is not None and adsl is not None:
        dm_arm = {r["USUBJID"]: r.get("ARM") or None for r in dm.rows}
        for number, row in enumerate(adsl.rows, start=1):
            if row["USUBJID"] in dm_arm and (row.get("ARM") or None) != dm_arm[row["USUBJID"]]:
                out.append(
                    Finding(
                        ERROR,
                        "ADSL-ARM",
                        "ADSL",
                        f"{row['USUBJID']}: ARM {row.get('ARM')!r}, DM.ARM {dm_arm[row['USUBJID']]!r}",
                        "ARM",
                        number,
                    )
                )
    out.extend(_relrec_rules(by_name))
    out.extend(_mrd_rules(by_name))
    if dm is not None:
        for name in ("LB", "VS"):
            if name in by_name:
                out.extend(_baseline_rule(dm, by_name[name]))
    if dm is not None and ta is not None:
        arms = {r["ARMCD"] for r in ta.rows}
        for variable in ("ARMCD", "ACTARMCD"):
            for value in sorted({r.get(variable) for r in dm.rows if r.get(variable)} - arms):
                out.append(Finding(ERROR, "TA-ARMCD", "DM", f"{value} is not an arm of TA", variable))
    return out


def _relrec_rules(by_name: dict[str, Dataset]) -> list[Finding]:
    """RELREC-REF and RELREC-RELID (RULES)."""
    relrec = by_name.get("RELREC")
    if relrec is None or not relrec.rows:
        return []
    out: list[Finding] = []
    index: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def keys(domain: str, variable: str) -> set[tuple[str, str]]:
        if (domain, variable) not in index:
            rows = by_name[domain].rows
            index[(domain, variable)] = {
                (r.get("USUBJID") or "", _text_value(r.get(variable))) for r in rows if r.get(variable) is not None
            }
        return index[(domain, variable)]

    relations: dict[tuple[str, str], list[dict[str, object]]] = {}
    for number, row in enumerate(relrec.rows, start=1):
        domain, variable, value = row.get("RDOMAIN") or "", row.get("IDVAR") or "", row.get("IDVARVAL")
        relations.setdefault((row.get("USUBJID") or "", row.get("RELID") or ""), []).append(row)
        dataset = by_name.get(domain)
        if dataset is None:
            out.append(
                Finding(ERROR, "RELREC-REF", "RELREC", f"{domain} is not a dataset of the export", "RDOMAIN", number)
            )
            continue
        if variable not in {c.name for c in dataset.columns}:
            out.append(
                Finding(ERROR, "RELREC-REF", "RELREC", f"{variable} is not a variable of {domain}", "IDVAR", number)
            )
            continue
        if row.get("USUBJID") and (row["USUBJID"], _text_value(value)) not in keys(domain, variable):
            out.append(
                Finding(
                    ERROR,
                    "RELREC-REF",
                    "RELREC",
                    f"{row['USUBJID']}: no {domain} record with {variable} = {value}",
                    "IDVARVAL",
                    number,
                )
            )
    for (usubjid, relid), rows in sorted(relations.items()):
        domains = {r.get("RDOMAIN") for r in rows}
        one_many = {r.get("RELTYPE") for r in rows} == {"ONE", "MANY"}
        if len(rows) < 2 or (len(domains) < 2 and not one_many):
            who = f"{usubjid}: " if usubjid else ""
            out.append(
                Finding(
                    ERROR,
                    "RELREC-RELID",
                    "RELREC",
                    f"{who}RELID {relid} relates {len(rows)} record(s) of {len(domains)} dataset(s)",
                    "RELID",
                )
            )
    return out


def _text_value(value: object) -> str:
    """A key as RELREC's IDVARVAL writes it (text; a whole number without a decimal point)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _mrd_rules(by_name: dict[str, Dataset]) -> list[Finding]:
    """MRD-DOMAIN and RS-VISITNUM (RULES)."""
    out: list[Finding] = []
    rs = by_name.get("RS")
    if rs is not None:
        has_visit = "VISITNUM" in {c.name for c in rs.columns}
        missing = 0
        for number, row in enumerate(rs.rows, start=1):
            testcd = str(row.get("RSTESTCD") or "")
            result = str(row.get("RSSTRESC") or "") + " " + str(row.get("RSORRES") or "")
            if testcd.startswith("MRD") or "MRD" in result.split():
                out.append(
                    Finding(
                        ERROR,
                        "MRD-DOMAIN",
                        "RS",
                        f"{testcd} {result.strip()!r}: MRD belongs in CP (flow) or GF (molecular), not RS",
                        "RSTESTCD",
                        number,
                    )
                )
            if row.get("RSDRVFL") != "Y" and (not has_visit or row.get("VISITNUM") in (None, "")):
                missing += 1
                if missing <= MAX_ROWS_PER_CHECK:
                    out.append(
                        Finding(ERROR, "RS-VISITNUM", "RS", "collected record without VISITNUM", "VISITNUM", number)
                    )
        if missing > MAX_ROWS_PER_CHECK:
            out.append(Finding(ERROR, "RS-VISITNUM", "RS", f"{missing} collected records in all without VISITNUM"))
    for name, flow in (("CP", True), ("GF", False)):
        dataset = by_name.get(name)
        for number, row in enumerate(dataset.rows if dataset is not None else [], start=1):
            method = row.get(f"{name}METHOD")
            if (method == "FLOW CYTOMETRY") is not flow:
                where = "flow-cytometry MRD belongs in CP" if not flow else "CP holds flow cytometry only"
                out.append(
                    Finding(ERROR, "MRD-DOMAIN", name, f"{name}METHOD {method!r}: {where}", f"{name}METHOD", number)
                )
    return out


def _baseline_rule(dm: Dataset, dataset: Dataset) -> list[Finding]:
    """LOBXFL (RULES): the flag on the last result per subject and test dated on or before the first
    dose (DM.RFXSTDTC, date part), and on no other."""
    prefix = dataset.name
    flag, testcd, dtc = f"{prefix}LOBXFL", f"{prefix}TESTCD", f"{prefix}DTC"
    first = {r["USUBJID"]: str(r["RFXSTDTC"])[:10] for r in dm.rows if r.get("RFXSTDTC")}
    last: dict[tuple[str, str], tuple[str, int]] = {}
    for number, row in enumerate(dataset.rows, start=1):
        on = str(row.get(dtc) or "")[:10]
        ref = first.get(row.get("USUBJID") or "")
        if ref is None or not on or on > ref:
            continue
        key = (row["USUBJID"], str(row.get(testcd)))
        if key not in last or on >= last[key][0]:
            last[key] = (on, number)
    expected = {number for _on, number in last.values()}
    out: list[Finding] = []
    for number, row in enumerate(dataset.rows, start=1):
        flagged = row.get(flag) == "Y"
        if flagged != (number in expected):
            why = (
                "flagged but not the last result before the first dose"
                if flagged
                else ("the last result of its test on or before the first dose is not flagged")
            )
            out.append(
                Finding(
                    ERROR, "LOBXFL", prefix, f"{row['USUBJID']} {row.get(testcd)} {row.get(dtc)}: {why}", flag, number
                )
            )
    return out[:MAX_ROWS_PER_CHECK] + (
        [Finding(ERROR, "LOBXFL", prefix, f"{len(out)} baseline flags wrong in all", flag)]
        if len(out) > MAX_ROWS_PER_CHECK
        else []
    )


def conformance(datasets: Iterable[Dataset], text_changes: Counter[tuple[str, str]] | None = None) -> list[Finding]:
    """Every finding of every dataset, the cross-dataset rules, then the notes of the ASCII text
    policy and of the datasets left out because empty."""
    datasets = list(datasets)
    out: list[Finding] = []
    for dataset in datasets:
        out.extend(check_dataset(dataset))
    out.extend(cross_checks(datasets))
    for dataset in datasets:
        if not dataset.rows:
            out.append(Finding(NOTE, "empty-dataset", dataset.name, "no records: not submitted (no file written)"))
    for (dataset_name, variable), count in sorted((text_changes or Counter()).items()):
        out.append(
            Finding(
                NOTE,
                "ascii-text",
                dataset_name,
                f"{count} free-text values made ASCII (non-ASCII characters removed; "
                "empty ones replaced by the coded term)",
                variable,
            )
        )
    return out


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in (ERROR, WARNING, NOTE)}
