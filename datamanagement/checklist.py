"""The lock checklist (issue 26 item 3): what is still open before a subject or the study is
locked, each item linking to where it is fixed.

Each app declares its items with `@declare(key, title)` in its AppConfig.ready (apps above
datamanagement import this module; datamanagement never imports them). A provider is
`provider(*, study, subjects) -> list[Item]`, `subjects` being the subjects in scope (one, or
every subject of the study). Datamanagement declares the items of the layers below it: open or
answered queries, forms the SDV plan selects that are not source-verified, and casebooks not
signed or whose signature is broken. `install` hands the checklist to `crf.locks` through its
declared hook, so a lock with items open is refused unless overridden with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crf import display, locks, sdv
from crf.models import ACTIVE_QUERY_STATUSES, Query
from crf.registry import crf_models
from crf.selectors import query_label
from datamanagement.models import Signature, SignatureScope
from study.subject_models import subject_model

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from study.models import Study


@dataclass(frozen=True)
class Item:
    kind: str
    subject: str
    label: str
    url: str


Provider = Callable[..., list[Item]]
_providers: dict[str, tuple[Promise | str, Provider]] = {}


def declare(key: str, title: Promise | str) -> Callable[[Provider], Provider]:
    """Declare one kind of checklist item (a section of the page)."""

    def decorator(func: Provider) -> Provider:
        _providers[key] = (title, func)
        return func

    return decorator


def sections() -> list[tuple[str, str]]:
    return [(key, str(title)) for key, (title, _func) in _providers.items()]


def in_scope(*, study: Study, subject: Any) -> QuerySet[Any]:
    found = subject_model().objects.filter(site__study=study).select_related("site")
    return found.filter(pk=subject.pk) if subject is not None else found


def open_items(*, study: Study, subject: Any) -> list[Item]:
    subjects = in_scope(study=study, subject=subject)
    found: list[Item] = []
    for _key, (_title, provider) in _providers.items():
        found.extend(provider(study=study, subjects=subjects))
    return found


def _as_dicts(*, study: Study, subject: Any) -> list[dict[str, Any]]:
    return [asdict(item) for item in open_items(study=study, subject=subject)]


def install() -> None:
    locks.on_lock_check(_as_dicts)


def form_url(subject_pk: int, code: str, pk: int) -> str:
    return reverse("subjects:form_edit", args=[subject_pk, code, pk])


# --- the items of the layers below datamanagement --------------------------------------------


@declare("queries", gettext_lazy("Open or answered queries"))
def open_queries(*, study: Study, subjects: QuerySet[Any]) -> list[Item]:
    rows = (
        Query.objects.filter(subject__in=subjects, status__in=ACTIVE_QUERY_STATUSES)
        .select_related("subject", "content_type")
        .order_by("subject__subject_id", "raised_at", "pk")
    )
    return [
        Item(
            kind="queries",
            subject=q.subject.subject_id,
            # the form and field by their names and the text in the reader's language, as the query pages show them
            label=_("%(form)s · %(field)s: %(text)s (%(status)s)")
            % {
                "form": query_label(q)[0],
                "field": query_label(q)[1],
                "text": _shortened(display.system_message(q, "text")),
                "status": q.get_status_display(),
            },
            url=reverse("crf_dm:query_detail", args=[q.pk]),
        )
        for q in rows
    ]


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@declare("sdv", gettext_lazy("Forms not source-verified under the SDV plan"))
def not_verified(*, study: Study, subjects: QuerySet[Any]) -> list[Item]:
    plan = sdv.plan_for(study)
    forms = []
    for model in crf_models().values():
        forms.extend(
            model._default_manager.filter(subject__in=subjects, entered_in_error=False).select_related("subject")
        )
    if not forms:
        return []
    states = sdv.sdv_states(forms)
    types = ContentType.objects.get_for_models(*{type(f) for f in forms})
    items = []
    for form in sorted(forms, key=lambda f: (f.subject.subject_id, f.casebook_order, f.crf_code, f.pk)):
        if sdv.selected(plan, form) and not states[(types[type(form)].pk, form.pk)].verified:
            items.append(
                Item(
                    kind="sdv",
                    subject=form.subject.subject_id,
                    label=_form_label(form),
                    url=form_url(form.subject_id, form.crf_code, form.pk),
                )
            )
    return items


def _form_label(form: Any) -> str:
    """A form as a monitor finds it in the casebook: code, number, title and its clinical date
    with the study day ("AE #3 Adverse event · 2026-03-23 (day 3)")."""
    label = f"{form.crf_code} #{form.pk} {form.crf_title}"
    on = form.clinical_date()
    if on is None:
        return label
    return f"{label} · {display.value_text(on, day0=getattr(form.subject, 'day0', None))}"


@declare("signatures", gettext_lazy("Casebooks not signed, or with a broken signature"))
def unsigned(*, study: Study, subjects: QuerySet[Any]) -> list[Item]:
    latest: dict[int, Signature] = {}
    for s in Signature.objects.filter(subject__in=subjects, scope=SignatureScope.CASEBOOK).order_by("signed_at", "pk"):
        latest[s.subject_id] = s
    items = []
    for subject in subjects.order_by("subject_id"):
        signature = latest.get(subject.pk)
        if signature is not None and signature.broken_at is None:
            continue
        label = (
            _("Casebook not signed")
            if signature is None
            else _("Casebook signature broken: %(why)s") % {"why": signature.broken_reason}
        )
        items.append(
            Item(
                kind="signatures",
                subject=subject.subject_id,
                label=label,
                url=reverse("datamanagement:sign") + f"?subject={subject.pk}&scope=casebook",
            )
        )
    return items
