"""The reports a sponsor asks for (issue 31 §3), read through the visibility gate.

- `queries`: the data clarification (DCF) report per site — every query with its status, age,
  form, field, text and answer;
- `screening`: the screening and enrolment log — each subject screened with the eligibility
  criteria it failed, its enrolment, dose level and infusion; and the counts by dose level and
  month;
- `status`: the subject status summary per site;
- `timeliness`: data-entry timeliness — days from a form's clinical date to its entry, per site
  and form.

Each report is a list of sections (title, columns, rows) so the page, CSV and XLSX render the
same rows. Filters: a site (among the reader's) and a date range (on the query's raise date, the
consent date, the status date, the clinical date respectively). Rows carry display values in
the reader's language; subject IDs only, never identity data.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from crf import display
from crf.csvfiles import formula_safe
from crf.models import Query, QueryStatus
from crf.registry import crf_models
from datamanagement import hooks
from study import access
from study.language import name_of
from study.models import Site
from study.roles import Action
from study.subject_models import consent_model, eligibility_model, subject_model

EXCEL_MAX_ROWS = 1_048_575


@dataclass(frozen=True)
class Filters:
    sites: QuerySet[Site]
    date_from: date | None = None
    date_to: date | None = None

    def within(self, day: date | None) -> bool:
        if day is None:
            return self.date_from is None and self.date_to is None
        return (self.date_from is None or day >= self.date_from) and (self.date_to is None or day <= self.date_to)


@dataclass
class Section:
    title: str
    columns: list[tuple[str, str]]  # (key, label)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [label for _key, label in self.columns]

    def table_rows(self) -> list[list[tuple[str, Any]]]:
        """(column key, value) per cell: the page styles cells by column (IDs never wrap)."""
        return [[(key, row.get(key, "")) for key, _label in self.columns] for row in self.rows]


@dataclass(frozen=True)
class ReportSpec:
    key: str
    title: Any  # lazy translation
    description: Any
    build: Callable[[Filters], list[Section]]


def report_sites(user: Any) -> QuerySet[Site]:
    """Sites whose reports the user may read: those where a role may view CRF pages (DESIGN §4a)."""
    return access.sites_where(user, Action.VIEW_CRF).order_by("code")


def _site_time(moment: datetime | None, site: Site) -> str:
    return display.when(moment, site.time_zone) if moment else ""


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def _site_name(site: Site) -> str:
    return f"{site.code} {name_of(site)}"


# --- queries (DCF) ------------------------------------------------------------------------------


def query_report(filters: Filters) -> list[Section]:
    now = timezone.now()
    queries = (
        Query.objects.filter(subject__site__in=filters.sites)
        .select_related("subject", "subject__site", "content_type", "raised_by", "answered_by")
        .order_by("subject__site__code", "raised_at", "pk")
    )
    models_by_type = {ContentType.objects.get_for_model(m).pk: m for m in crf_models().values()}
    section = Section(
        _("Queries"),
        [
            ("site", _("Site")),
            ("subject", _("Subject")),
            ("form", _("Form")),
            ("field", _("Field")),
            ("status", _("Status")),
            ("raised_at", _("Raised at")),
            ("raised_by", _("Raised by")),
            ("age_days", _("Age (days)")),
            ("text", _("Query text")),
            ("answer", _("Answer")),
            ("answered_at", _("Answered at")),
            ("closed_at", _("Closed at")),
        ],
    )
    for query in queries:
        site = query.subject.site
        if not filters.within(query.raised_at.astimezone(ZoneInfo(site.time_zone)).date()):
            continue
        model = models_by_type.get(query.content_type_id)
        form = str(model._meta.verbose_name) if model else str(query.content_type)
        try:
            field_label = str(model._meta.get_field(query.field_name).verbose_name) if model else query.field_name
        except Exception:  # a field since renamed: show its stored name
            field_label = query.field_name
        ended = query.closed_at if query.status in (QueryStatus.CLOSED, QueryStatus.CANCELLED) else None
        answer = query.get_answer_display() if query.answer else ""
        if query.answer_text:
            answer = f"{answer}: {query.answer_text}" if answer else query.answer_text
        section.rows.append(
            {
                "site": _site_name(site),
                "subject": query.subject.subject_id or query.subject.screening_number,
                "form": form,
                "field": field_label,
                "status": query.get_status_display(),
                "raised_at": _site_time(query.raised_at, site),
                "raised_by": query.raised_by.get_username() if query.raised_by else _("automatic edit check"),
                "age_days": ((ended or now) - query.raised_at).days,
                "text": display.system_message(query, "text"),
                "answer": answer,
                "answered_at": _site_time(query.answered_at, site),
                "closed_at": _site_time(query.closed_at, site),
            }
        )
    counts = Counter((row["site"], row["status"]) for row in section.rows)
    summary = Section(
        _("Queries by site and status"), [("site", _("Site")), ("status", _("Status")), ("n", _("Number"))]
    )
    summary.rows = [{"site": s, "status": st, "n": n} for (s, st), n in sorted(counts.items())]
    return [summary, section]


# --- screening and enrolment log ---------------------------------------------------------------


def _failed_criteria(eligibility: Any) -> str:
    if eligibility is None:
        return ""
    failed = [f"{c.code} {c.text}" for c in hooks.criteria_not_met(answers=eligibility.criteria or {})]
    return "; ".join(failed)


def _consent_dates(subjects: Iterable[Any]) -> dict[int, date]:
    first: dict[int, date] = {}
    for subject_id, day in (
        consent_model()
        .objects.filter(subject__in=subjects, entered_in_error=False)
        .values_list("subject_id", "consent_date")
    ):
        if subject_id not in first or day < first[subject_id]:
            first[subject_id] = day
    return first


def screening_log(filters: Filters) -> list[Section]:
    subjects = list(
        subject_model().objects.filter(site__in=filters.sites).select_related("site").order_by("site__code", "pk")
    )
    consents = _consent_dates(subjects)
    latest_eligibility: dict[int, Any] = {}
    for record in (
        eligibility_model()
        .objects.filter(subject__in=subjects, entered_in_error=False)
        .order_by("assessment_date", "pk")
    ):
        latest_eligibility[record.subject_id] = record
    log = Section(
        _("Screening and enrolment log"),
        [
            ("site", _("Site")),
            ("subject", _("Subject")),
            ("screening_number", _("Screening number")),
            ("consent_date", _("Consent date")),
            ("status", _("Status")),
            ("screen_failure", _("Screen failure")),
            ("criteria_not_met", _("Criteria not met")),
            ("enrolled_on", _("Enrolment date")),
            ("dose_level", _("Dose level")),
            ("infusion_date", _("Infusion date (day 0)")),
        ],
    )
    by_month: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    screen_failed = hooks.subject_statuses().SCREEN_FAILED
    for subject in subjects:
        consented = consents.get(subject.pk)
        if not filters.within(consented):
            continue
        failed = subject.status == screen_failed
        log.rows.append(
            {
                "site": _site_name(subject.site),
                "subject": subject.subject_id,
                "screening_number": subject.screening_number,
                "consent_date": _day(consented),
                "status": subject.get_status_display(),
                "screen_failure": _("Yes") if failed else _("No"),
                "criteria_not_met": _failed_criteria(latest_eligibility.get(subject.pk)) if failed else "",
                "enrolled_on": _day(subject.enrolled_on),
                "dose_level": subject.dose_level,
                "infusion_date": _day(subject.infusion_date),
            }
        )
        if consented:
            by_month[(consented.strftime("%Y-%m"), "")]["screened"] += 1
        if failed and subject.status_date:
            by_month[(subject.status_date.strftime("%Y-%m"), "")]["screen_failures"] += 1
        if subject.enrolled_on:
            by_month[(subject.enrolled_on.strftime("%Y-%m"), subject.dose_level)]["enrolled"] += 1
        if subject.infusion_date:
            by_month[(subject.infusion_date.strftime("%Y-%m"), subject.dose_level)]["infused"] += 1
    counts = Section(
        _("Screened, screen failures, enrolled and infused by month and dose level"),
        [
            ("month", _("Month")),
            ("dose_level", _("Dose level")),
            ("screened", _("Screened")),
            ("screen_failures", _("Screen failures")),
            ("enrolled", _("Enrolled")),
            ("infused", _("Infused")),
        ],
    )
    for (month, level), counter in sorted(by_month.items()):
        counts.rows.append(
            {
                "month": month,
                "dose_level": level or "—",
                "screened": counter["screened"],
                "screen_failures": counter["screen_failures"],
                "enrolled": counter["enrolled"],
                "infused": counter["infused"],
            }
        )
    return [counts, log]


# --- subject status summary --------------------------------------------------------------------


def status_summary(filters: Filters) -> list[Section]:
    subjects = subject_model().objects.filter(site__in=filters.sites).select_related("site")
    counts: Counter[tuple[str, str]] = Counter()
    sites: set[str] = set()
    for subject in subjects:
        if not filters.within(subject.status_date):
            continue
        name = _site_name(subject.site)
        sites.add(name)
        counts[(name, subject.status)] += 1
    ordered_sites = sorted(sites)
    columns = (
        [("status", _("Status"))] + [(f"site_{i}", s) for i, s in enumerate(ordered_sites)] + [("total", _("Total"))]
    )
    section = Section(_("Subjects by status and site"), columns)
    for status in hooks.subject_statuses():
        row: dict[str, Any] = {"status": status.label}
        total = 0
        for i, site in enumerate(ordered_sites):
            row[f"site_{i}"] = counts[(site, status.value)]
            total += counts[(site, status.value)]
        row["total"] = total
        section.rows.append(row)
    return [section]


# --- data-entry timeliness ---------------------------------------------------------------------


def entry_timeliness(filters: Filters) -> list[Section]:
    """Days from each form's clinical date (its visit date where it has no clinical date of its
    own) to the site-local date it was first entered, per site and form."""
    delays: dict[tuple[str, str], list[int]] = defaultdict(list)
    zones = {site.pk: (ZoneInfo(site.time_zone), _site_name(site)) for site in filters.sites}
    for model in crf_models().values():
        clinical = model.clinical_date_field
        if not clinical:
            continue
        rows = model.objects.filter(subject__site__in=filters.sites, entered_in_error=False).values_list(
            "subject__site_id", clinical, "created_at"
        )
        label = str(model._meta.verbose_name)
        for site_id, clinical_date, created_at in rows:
            if clinical_date is None or created_at is None or not filters.within(clinical_date):
                continue
            zone, site_name = zones[site_id]
            delays[(site_name, label)].append((created_at.astimezone(zone).date() - clinical_date).days)
    section = Section(
        _("Days from the clinical date to data entry"),
        [
            ("site", _("Site")),
            ("form", _("Form")),
            ("n", _("Forms")),
            ("median", _("Median (days)")),
            ("p90", _("90th percentile (days)")),
            ("max", _("Maximum (days)")),
            ("late", _("Entered more than 7 days later")),
        ],
    )
    for (site_name, form), values in sorted(delays.items()):
        values.sort()
        p90 = values[max(0, -(-9 * len(values) // 10) - 1)]  # nearest-rank 90th percentile
        section.rows.append(
            {
                "site": site_name,
                "form": form,
                "n": len(values),
                "median": statistics.median(values),
                "p90": p90,
                "max": values[-1],
                "late": sum(1 for v in values if v > 7),
            }
        )
    return [section]


REPORTS: dict[str, ReportSpec] = {
    spec.key: spec
    for spec in (
        ReportSpec(
            "queries",
            gettext_lazy("Query report (DCF)"),
            gettext_lazy("Every query per site with its status, age, form, field, text and answer."),
            query_report,
        ),
        ReportSpec(
            "screening",
            gettext_lazy("Screening and enrolment log"),
            gettext_lazy("Subjects screened, screen failures with the criteria not met, enrolled and infused."),
            screening_log,
        ),
        ReportSpec(
            "status",
            gettext_lazy("Subject status summary"),
            gettext_lazy("Subjects by lifecycle status and site."),
            status_summary,
        ),
        ReportSpec(
            "timeliness",
            gettext_lazy("Data-entry timeliness"),
            gettext_lazy("Days from the clinical date to data entry, per site and form."),
            entry_timeliness,
        ),
    )
}


def as_csv(sections: list[Section]) -> str:
    """Sections one after another: a title line, the header, the rows, a blank line. Cells that
    a spreadsheet would read as a formula are prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for section in sections:
        writer.writerow([f"# {section.title}"])
        writer.writerow([label for _key, label in section.columns])
        for row in section.rows:
            writer.writerow([formula_safe(row.get(key, "")) for key, _label in section.columns])
        writer.writerow([])
    return out.getvalue()


def as_xlsx(sections: list[Section], *, title: str, generated: datetime) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for index, section in enumerate(sections, start=1):
        sheet = book.create_sheet(title=f"{index} {section.title}"[:31].replace("/", "-").replace(":", ""))
        sheet.append([section.title])
        sheet.append([label for _key, label in section.columns])
        for row in section.rows[:EXCEL_MAX_ROWS]:
            sheet.append([formula_safe(row.get(key, "")) for key, _label in section.columns])
    book.properties.title = title
    book.properties.created = generated.replace(tzinfo=None)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
