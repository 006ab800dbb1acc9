"""Export pages (DESIGN §3 exports/, §4a): the exports of a study with a form to start one, an
export's page with its progress, conformance report and files, and the audited downloads.
Thin: gate → form → one service → redirect."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, pgettext, pgettext_lazy

from exports import archive, metadata, selectors, services
from exports.findings import ERROR, NOTE, WARNING
from exports.forms import ExportRequestForm
from exports.models import DownloadChannel, ExportFile, ExportStatus, ExportTrigger
from study import system_text
from study.form_errors import apply_service_errors

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xpt": "application/octet-stream",
    "json": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "xsl": "application/xslt+xml; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odm": "application/xml; charset=utf-8",
}


#: The SDTM datasets by the IG's label (SDTMIG 3.4, exports/data/sdtmig34_Datasets.csv: the
#: English text here is that label, word for word), translated for the export page; the files keep
#: the IG's English label.
SDTM_NAMES = {
    "TS": pgettext_lazy("SDTM dataset", "Trial Summary"),
    "TE": pgettext_lazy("SDTM dataset", "Trial Elements"),
    "TA": pgettext_lazy("SDTM dataset", "Trial Arms"),
    "TV": pgettext_lazy("SDTM dataset", "Trial Visits"),
    "TI": pgettext_lazy("SDTM dataset", "Trial Inclusion/Exclusion Criteria"),
    "DM": pgettext_lazy("SDTM dataset", "Demographics"),
    "SE": pgettext_lazy("SDTM dataset", "Subject Elements"),
    "SV": pgettext_lazy("SDTM dataset", "Subject Visits"),
    "EX": pgettext_lazy("SDTM dataset", "Exposure"),
    "AE": pgettext_lazy("SDTM dataset", "Adverse Events"),
    "CM": pgettext_lazy("SDTM dataset", "Concomitant/Prior Medications"),
    "PR": pgettext_lazy("SDTM dataset", "Procedures"),
    "DS": pgettext_lazy("SDTM dataset", "Disposition"),
    "DD": pgettext_lazy("SDTM dataset", "Death Details"),
    "DV": pgettext_lazy("SDTM dataset", "Protocol Deviations"),
    "HO": pgettext_lazy("SDTM dataset", "Healthcare Encounters"),
    "IE": pgettext_lazy("SDTM dataset", "Inclusion/Exclusion Criteria Not Met"),
    "LB": pgettext_lazy("SDTM dataset", "Laboratory Test Results"),
    "VS": pgettext_lazy("SDTM dataset", "Vital Signs"),
    "MH": pgettext_lazy("SDTM dataset", "Medical History"),
    "RS": pgettext_lazy("SDTM dataset", "Disease Response and Clin Classification"),
    "CP": pgettext_lazy("SDTM dataset", "Cell Phenotype Findings"),
    "GF": pgettext_lazy("SDTM dataset", "Genomics Findings"),
    "RELREC": pgettext_lazy("SDTM dataset", "Related Records"),
}


def _titles() -> dict[str, str]:
    """Titles of the datasets on the export page, in the reader's language: an SDTM domain by
    its IG label (SDTM_NAMES; the files keep the IG's English label), the response and analysis
    datasets described."""
    return {
        **{name: str(label) for name, label in SDTM_NAMES.items()},
        "RS": _("Disease response (overall and MRD response per assessment; day-28 and best response)"),
        "ADSL": _("ADaM subject level: populations, dose level, key dates, baseline disease"),
        "ADAE": _("ADaM adverse events: treatment-emergent, day 0-90, lymphodepletion, maximum grade"),
        "ADTTE": _("ADaM time to event: OS, EFS, RFS, duration of response"),
        "ADRS": _("ADaM response: per assessment, day-28 and best response, MRD status"),
        "ADEX": _("ADaM exposure: lymphodepletion doses and CAR-T dose per kg"),
        "ADCM": _("ADaM medications: prior and concomitant flags"),
        "ADLB": _("ADaM laboratory: CTCAE grades, baseline, change from baseline, worst post-baseline flags"),
    }


def dataset_choices() -> list[tuple[str, str]]:
    labels = metadata.sdtm_dataset_labels() | _titles()
    return [(name, f"{name} · {labels.get(name, name)}") for name in services.available_datasets()]


@login_required
def export_list(request: HttpRequest) -> HttpResponse:
    studies = list(selectors.studies_for_exports(request.user).order_by("code"))
    if not studies:
        raise PermissionDenied
    study = next((s for s in studies if s.code == request.GET.get("study")), studies[0])
    form = ExportRequestForm(
        request.POST or None, initial={"cutoff_date": timezone.localdate()}, dataset_choices=dataset_choices()
    )
    if request.method == "POST" and form.is_valid():
        try:
            export = services.request_export(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                cutoff_date=form.cleaned_data["cutoff_date"],
                snapshot_at=form.cleaned_data["snapshot_at"],
                dataset_names=form.cleaned_data["datasets"],
                formats=form.cleaned_data["formats"],
                trigger=ExportTrigger.PAGE,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Export requested: it starts as soon as a worker is free."))
            return redirect("exports:detail", pk=export.pk)
    exports = selectors.exports_visible_to(request.user).filter(study=study)[:100]
    context = {"study": study, "studies": studies, "jobs": exports, "form": form, "can_request": True}
    return render(request, "exports/list.html", context)


SEVERITY_LABELS = {ERROR: gettext_lazy("Error"), WARNING: gettext_lazy("Warning"), NOTE: gettext_lazy("Note")}

#: The conformance checks' findings (exports.checks, stored in English with the export) as message
#: templates, so the page shows each in the reader's language: a finding is matched against them
#: (study.system_text.parse) and rendered; one that matches none shows as stored. Names, CDISC
#: variable labels and values inside a finding stay as the files have them.
FINDING_MESSAGES = (
    gettext_noop("%(dataset)s is not a dataset of %(standard)s"),
    gettext_noop("required variable is missing"),
    gettext_noop("expected variable left out: %(reason)s"),
    gettext_noop("expected variable is missing and its omission is not documented"),
    gettext_noop("not a variable of %(dataset)s in %(standard)s"),
    gettext_noop("type %(type)s, the IG says %(ig_type)s"),
    gettext_noop("label %(label)s, the IG says %(ig_label)s"),
    gettext_noop("required variable has no value"),
    gettext_noop("%(n)s rows in all have no value"),
    gettext_noop("%(value)s is not an ISO 8601 %(kind)s"),
    gettext_noop("sponsor-defined variable: %(label)s"),
    gettext_noop("not a variable of %(dataset)s and has no label"),
    gettext_noop("%(n)s rows null as their SDTM source (ADSL-ARM)"),
    gettext_noop("codelist %(codes)s: terms not shipped, values not checked"),
    gettext_noop("%(value)s (%(count)s rows): documented sponsor term in %(names)s"),
    gettext_noop("%(value)s (%(count)s rows) is not a term of %(names)s (extensible)"),
    gettext_noop("%(value)s (%(count)s rows) is not a term of %(names)s"),
    gettext_noop("key variables missing: %(names)s"),
    gettext_noop("%(n)s duplicate keys in all"),
    gettext_noop("EPOCH is missing"),
    gettext_noop("%(subject)s died: no fatal AE and no DD record"),
    gettext_noop("%(subject)s died without a fatal AE: explained in DD (primary cause %(cause)s)"),
    gettext_noop("%(n)s collected records in all without VISITNUM"),
    gettext_noop("collected record without VISITNUM"),
    gettext_noop("%(n)s baseline flags wrong in all"),
    gettext_noop(
        "%(count)s free-text values made ASCII (non-ASCII characters removed; empty ones replaced by the coded term)"
    ),
    gettext_noop("no records: not submitted (no file written)"),
)

#: What the export declarations (exports.sdtm, exports.adam) write inside a finding: why an expected
#: variable is left out, a sponsor-defined variable's label; translated for the page only (the
#: files and define.xml keep the English).
CDISC_TEXTS = (
    pgettext_lazy("CDISC metadata", "The CDISC CT and ISO 3166 codes are given without a package date."),
    pgettext_lazy("CDISC metadata", "Every arm (dose level) has the same schedule."),
    pgettext_lazy(
        "CDISC metadata",
        "No unplanned treatment: the actual arm is always a planned dose level (why a subject was not "
        "infused is in DS).",
    ),
    pgettext_lazy("CDISC metadata", "All supplemental qualifiers are collected or derived, none evaluated."),
    pgettext_lazy(
        "CDISC metadata", "CTCAE v5.0 publishes one MedDRA LLT code per term, not the PT code (no licensed MedDRA)."
    ),
    pgettext_lazy("CDISC metadata", "Not in CTCAE v5.0 (no licensed MedDRA hierarchy)."),
    pgettext_lazy("CDISC metadata", "CTCAE v5.0 names the SOC but publishes no SOC code."),
    pgettext_lazy(
        "CDISC metadata",
        "A change of an AE's grade is dated on the AE form, not collected at a visit; CRS and ICANS "
        "assessments are dated and timed (several a day), FADTC places them.",
    ),
    pgettext_lazy(
        "CDISC metadata",
        "The MRD form records the result of the leukaemia-associated phenotype search, not the marker "
        "panel; whether the gating was CD7-independent is in CPGATDEF.",
    ),
    pgettext_lazy("CDISC metadata", "The MRD form records no specimen or sample identifier."),
    pgettext_lazy("CDISC metadata", "DLT-Evaluable Population Flag"),
    pgettext_lazy("CDISC metadata", "Lymphodepletion Start Date"),
    pgettext_lazy("CDISC metadata", "Baseline Diagnosis"),
    pgettext_lazy("CDISC metadata", "Relapsed or Refractory at Baseline"),
    pgettext_lazy("CDISC metadata", "Baseline CNS Status"),
    pgettext_lazy("CDISC metadata", "Number of Prior Lines of Therapy"),
    pgettext_lazy("CDISC metadata", "Prior Allogeneic HSCT Flag"),
    pgettext_lazy("CDISC metadata", "Baseline Marrow Blasts (%)"),
    pgettext_lazy("CDISC metadata", "Baseline Blast CD7 Expression (%)"),
    pgettext_lazy("CDISC metadata", "CAR-T Product Source (Donor Type)"),
    pgettext_lazy("CDISC metadata", "CAR-T Product Fresh or Thawed"),
    pgettext_lazy("CDISC metadata", "Analysis Start Day (Day-0 Clock)"),
    pgettext_lazy("CDISC metadata", "Toxicity Grading Scale"),
    pgettext_lazy("CDISC metadata", "Treatment Emergent Analysis Flag"),
    pgettext_lazy("CDISC metadata", "TEAE Onset Day 0-90 Flag"),
    pgettext_lazy("CDISC metadata", "Lymphodepletion Period Flag"),
    pgettext_lazy("CDISC metadata", "1st Max Grade Occurrence Flag"),
    pgettext_lazy("CDISC metadata", "1st Max Grade Occur Within SOC Flag"),
    pgettext_lazy("CDISC metadata", "1st Max Grade Occur Within PT Flag"),
    pgettext_lazy("CDISC metadata", "Name of Treatment"),
    pgettext_lazy("CDISC metadata", "Category of Treatment"),
    pgettext_lazy("CDISC metadata", "Dose Units"),
    pgettext_lazy("CDISC metadata", "Analysis End Day (Day-0 Clock)"),
    pgettext_lazy("CDISC metadata", "Prior Medication Flag"),
    pgettext_lazy("CDISC metadata", "Analysis Day (Day-0 Clock)"),
    pgettext_lazy("CDISC metadata", "Event Type (N)"),
)


def finding_text(message: str) -> str:
    """One conformance finding in the reader's language (FINDING_MESSAGES), else as stored; a
    reason or sponsor label inside it translated when CDISC_TEXTS holds it."""
    found = system_text.parse(message, candidates=FINDING_MESSAGES)
    if found is None:
        return message
    code, params = found
    shown = {
        key: pgettext("CDISC metadata", value) if key in ("reason", "label") and isinstance(value, str) else value
        for key, value in params.items()
    }
    return system_text.render(code, shown)


def _shown(finding: dict[str, Any]) -> dict[str, Any]:
    return {
        **finding,
        "severity_label": SEVERITY_LABELS.get(finding["severity"], finding["severity"]),
        "message": finding_text(str(finding.get("message", ""))),
    }


@login_required
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    export = selectors.access_export(request.user, pk)
    files = list(ExportFile.objects.filter(export=export).defer("content").order_by("pk"))
    findings = export.conformance or []
    by_severity = {
        severity: [_shown(f) for f in findings if f["severity"] == severity] for severity in (ERROR, WARNING, NOTE)
    }
    context = {
        "export": export,
        "files": files,
        "errors": by_severity[ERROR],
        "warnings": by_severity[WARNING],
        "notes": by_severity[NOTE],
        "downloads": selectors.downloads_of(export)[:50],
        "live": export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING),
    }
    return render(request, "exports/detail.html", context)


@login_required
def export_file(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    export = selectors.access_export(request.user, pk)
    file = ExportFile.objects.filter(export=export, name=name).first()
    if file is None:
        raise Http404
    services.record_download(
        user=request.user,  # type: ignore[arg-type]
        export=export,
        file=file,
        what=file.name,
        channel=DownloadChannel.PAGE,
    )
    response = services.file_response(file, CONTENT_TYPES.get(file.fmt, "application/octet-stream"))
    response["Content-Disposition"] = f'attachment; filename="export-{export.pk}-{file.name}"'
    response["X-Content-SHA256"] = file.sha256
    return response


@login_required
def export_archive(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every file of the export and its manifest in one ZIP, streamed (exports.archive)."""
    export = selectors.access_export(request.user, pk)
    files = list(
        ExportFile.objects.filter(export=export)
        .order_by("pk")
        .values("pk", "name", "fmt", "rows", "size_bytes", "sha256")
    )
    if not files:
        raise Http404
    services.record_download(
        user=request.user,  # type: ignore[arg-type]
        export=export,
        what=f"export-{export.pk}.zip",
        channel=DownloadChannel.PAGE,
    )
    about = {
        "export": export.pk,
        "study": export.study.code,
        "cutoff_date": export.cutoff_date.isoformat(),
        "snapshot_at": export.snapshot_at.isoformat() if export.snapshot_at else None,
        "code_version": export.code_version,
        "datasets": export.datasets,
        "formats": export.formats,
    }
    head = archive.manifest(files, about)

    def loader(file_pk: int) -> Any:
        return lambda: services.file_pieces(file_pk)  # a part at a time (issue 29 item 7)

    entries = [
        (archive.MANIFEST, lambda: head, len(head)),
        *((f["name"], loader(f["pk"]), f["size_bytes"]) for f in files),
    ]
    response = StreamingHttpResponse(archive.stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="export-{export.pk}.zip"'
    return response
