"""Source data verification (DESIGN §4 "SDV marks", §4a "mark SDV"; issue 7 item 2).

- A monitor marks a whole form (`field_name` blank) or one of its data fields verified against
  the source (`mark_verified`). A freeze allows it; a lock refuses it (crf.locks).
- A later change to verified data clears the mark (`clear_marks_after_change`, called by
  `crf.services.save_form` inside the same transaction and audit context): the marks of the
  changed fields and the form's whole-form mark. The row keeps when and why it was cleared, so
  the form page says "SDV cleared by change on …".
- The study's SDV plan (`SdvPlan`) names the forms verified in full and the percentage sampled
  from the others with a recorded seed; `in_sample` is a pure function of seed, CRF code and
  form id, so the sample is reproducible. The study admin or a data manager edits it.
- The SDV worklist of a site lists every form the plan selects that is not verified yet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, F, Func, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crf import locks
from crf.models import CrfInstance, SdvMark, SdvPlan
from study import access
from study.access import subjects_visible_to
from study.audit_context import audit_context
from study.roles import Action
from study.system_text import message

if TYPE_CHECKING:
    from study.models import Site, Study, User

#: Forms verified in full by default: eligibility, consent and treatment (infusion,
#: lymphodepletion) and the safety forms as they arrive (issue 7: "100% of eligibility,
#: infusion and safety forms").
DEFAULT_FULL_FORMS = ("ELIG", "IC", "LD", "INF", "AE", "CRS", "ICANS", "DLT", "SAE", "DEATH")
DEFAULT_SAMPLE_PERCENT = 20
DEFAULT_SEED = 7


def in_sample(*, seed: int, crf_code: str, form_id: int, percent: int) -> bool:
    """Whether one form instance falls in a plan's sample: the first 8 bytes of
    SHA-256("seed:code:id") as a number in [0, 100) below `percent`. Independent of the
    machine, the process and the order forms were entered in."""
    digest = hashlib.sha256(f"{seed}:{crf_code}:{form_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000 < percent * 100


def plan_for(study: Study) -> SdvPlan:
    """The study's SDV plan; the default (not yet saved) when none was recorded."""
    plan = SdvPlan.objects.filter(study=study).first()
    if plan is None:
        plan = _default_plan(study.pk)
        plan.study = study
    return plan


def _default_plan(study_id: int) -> SdvPlan:
    return SdvPlan(
        study_id=study_id,
        full_forms=list(DEFAULT_FULL_FORMS),
        sample_percent=DEFAULT_SAMPLE_PERCENT,
        seed=DEFAULT_SEED,
    )


def plans_for(study_ids: Iterable[int]) -> dict[int, SdvPlan]:
    """`plan_for` of several studies in one query (study id → plan, the default where none was
    recorded)."""
    ids = sorted(set(study_ids))
    found = {plan.study_id: plan for plan in SdvPlan.objects.filter(study_id__in=ids)}
    for study_id in ids:
        if study_id not in found:
            found[study_id] = _default_plan(study_id)
    return found


def selected(plan: SdvPlan, form: CrfInstance) -> bool:
    """Whether the plan asks for this form to be verified."""
    if form.crf_code in plan.full_forms:
        return True
    return in_sample(seed=plan.seed, crf_code=form.crf_code, form_id=form.pk, percent=plan.sample_percent)


class SampleBucket(Func):
    """`in_sample`'s number in [0, 10000) computed by PostgreSQL for each row of one form type:
    the first 8 bytes of SHA-256("seed:code:id") as an unsigned number, modulo 10000 (read as
    two unsigned 32-bit halves, since bigint is signed). The seed and code are written into the
    SQL as literals (an integer and a registered CRF code), so the template may repeat them."""

    output_field = IntegerField()

    def __init__(self, *, seed: int, crf_code: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", crf_code):
            raise ValueError(f"not a CRF code: {crf_code!r}")
        digest = f"encode(sha256(convert_to('{int(seed)}:{crf_code}:' || %(expressions)s::text, 'UTF8')), 'hex')"
        self.template = (
            f"mod(('x' || substr({digest}, 1, 8))::bit(32)::bigint::numeric * 4294967296"
            f" + ('x' || substr({digest}, 9, 8))::bit(32)::bigint, 10000)::integer"
        )
        super().__init__(F("pk"))


def selected_q(plan: SdvPlan, model: type[CrfInstance]) -> Q:
    """`selected` as a filter on one form type's rows (every row of a fully verified form, else
    the sample), for counting and listing in SQL what the plan selects."""
    if model.crf_code in plan.full_forms:
        return Q()
    return Q(sdv_bucket__lt=plan.sample_percent * 100)


def pending_verification(
    model: type[CrfInstance], plans: dict[int, SdvPlan], subjects: QuerySet[Any]
) -> QuerySet[CrfInstance]:
    """The saved forms of one type (not entered in error) of `subjects` that their study's SDV plan
    (`plans`: study id → plan) selects and no whole-form mark covers: the SDV worklist's rule
    (`sdv_worklist`) as one query."""
    from django.db.models import Exists, OuterRef

    content_type = ContentType.objects.get_for_model(model)
    whole = SdvMark.objects.filter(
        content_type=content_type, object_id=OuterRef("pk"), field_name="", cleared_at__isnull=True
    )
    by_plan = Q(pk__in=[])
    for study_id, plan in plans.items():
        by_plan |= Q(subject__site__study_id=study_id) & selected_q(plan, model)
    found = model._default_manager.filter(subject__in=subjects, entered_in_error=False)
    if any(model.crf_code not in plan.full_forms for plan in plans.values()):
        # one plan's seed per study: a study's rows are bucketed with their own plan's seed
        buckets = [
            When(subject__site__study_id=study_id, then=SampleBucket(seed=plan.seed, crf_code=model.crf_code))
            for study_id, plan in plans.items()
        ]
        found = found.annotate(sdv_bucket=Case(*buckets, default=Value(10000), output_field=IntegerField()))
    return found.filter(by_plan).exclude(Exists(whole))


def may_edit_plan(user: User, study: Study) -> bool:
    """The study admin (issue 7 item 2), or a data manager at every site of the study: the plan is
    study-wide, so like a study-wide lock it needs the role everywhere it reaches (issue 21)."""
    if access.can_anywhere(user, Action.ADMINISTER, study=study):
        return True
    sites = list(study.sites.all())
    return bool(sites) and all(access.can(user, Action.FREEZE_LOCK, site=site) for site in sites)


@transaction.atomic
def save_plan(
    *, user: User, study: Study, full_forms: Iterable[str], sample_percent: int, seed: int, reason: str
) -> SdvPlan:
    """Record the study's SDV plan (audited with the reason)."""
    if not may_edit_plan(user, study):
        raise PermissionDenied
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason for changing the SDV plan.")})
    plan = plan_for(study)
    plan.full_forms = sorted(set(full_forms))
    plan.sample_percent = sample_percent
    plan.seed = seed
    plan.updated_by = user
    plan.updated_at = timezone.now()
    plan.full_clean(exclude=["study"])
    with audit_context(user=user, reason=reason):
        if plan.pk is None:
            plan.save()
        else:
            plan.save(update_fields=["full_forms", "sample_percent", "seed", "updated_by", "updated_at"])
    return plan


def _verifiable_fields(model: type[CrfInstance], form: CrfInstance | None = None) -> list[str]:
    from crf.queries import queryable_fields

    return queryable_fields(model, form)


@transaction.atomic
def mark_verified(*, user: User, form: CrfInstance, field_name: str = "") -> SdvMark:
    """A monitor verifies the whole form (`field_name` blank) or one data field against the
    source. Refused under a lock (a freeze allows it), on a form entered in error, and when the
    same form or field is already verified."""
    if form.pk is None:
        raise ValidationError(_("Save the form before verifying it."), code="unsaved")
    model = type(form)
    current = model._default_manager.select_for_update(of=("self",)).select_related("subject__site").get(pk=form.pk)
    site = current.subject.site
    access.require(user, Action.MARK_SDV, site=site)
    if field_name and field_name not in _verifiable_fields(model, current):
        raise ValidationError({"field_name": _("This form has no such field to verify.")}, code="invalid_field")
    if current.entered_in_error:
        raise ValidationError(_("This form was marked entered in error: it cannot be verified."), code="removed")
    locks.assert_not_locked(current)
    content_type = ContentType.objects.get_for_model(model)
    if SdvMark.objects.filter(
        content_type=content_type, object_id=current.pk, field_name=field_name, cleared_at__isnull=True
    ).exists():
        raise ValidationError(_("Already verified."), code="already_verified")
    mark = SdvMark(
        subject=current.subject,
        content_type=content_type,
        object_id=current.pk,
        field_name=field_name,
        form_version=current.version,
        verified_by=user,
        verified_at=timezone.now(),
    )
    with audit_context(user=user, site=site, reason=message(gettext_noop("Source data verified"))):
        mark.full_clean(exclude=["subject", "content_type", "verified_by"])
        mark.save()
    return mark


def clear_marks_after_change(*, user: User, form: CrfInstance, changed: Iterable[str], at: datetime) -> int:
    """Clear the SDV marks a change made stale: the changed fields' marks and the whole-form
    mark. Called by the save service inside its transaction and audit context; returns how
    many marks were cleared."""
    changed = list(changed)
    if not changed:
        return 0
    marks = list(
        SdvMark.objects.select_for_update()
        .filter(
            content_type=ContentType.objects.get_for_model(type(form)),
            object_id=form.pk,
            cleared_at__isnull=True,
        )
        .filter(field_name__in=["", *changed])
    )
    for mark in marks:
        mark.cleared_at = at
        mark.cleared_by = user
        text = _("Changed to version %(version)s: %(fields)s") % {
            "version": form.version,
            "fields": ", ".join(sorted(changed)),
        }
        mark.cleared_reason = text[:300]
        mark.save(update_fields=["cleared_at", "cleared_by", "cleared_reason"])
    return len(marks)


# --- reading the marks -------------------------------------------------------------------------


@dataclass
class FormSdv:
    """A form's SDV state as the pages show it."""

    whole: SdvMark | None = None
    fields: dict[str, SdvMark] = field(default_factory=dict)
    #: marks cleared by a change and not verified again since (field name, "" = whole form)
    cleared: dict[str, SdvMark] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.whole is not None

    @property
    def state(self) -> str:
        if self.whole is not None:
            return "verified"
        if self.cleared:
            return "cleared"
        if self.fields:
            return "partial"
        return "none"


def sdv_states(forms: Iterable[CrfInstance]) -> dict[tuple[int, int], FormSdv]:
    """SDV state per (content type id, form id), in one query for any number of forms."""
    forms = list(forms)
    if not forms:
        return {}
    types = ContentType.objects.get_for_models(*{type(f) for f in forms})
    wanted: dict[int, set[int]] = {}
    for form in forms:
        wanted.setdefault(types[type(form)].pk, set()).add(form.pk)

    scope = Q(pk__in=[])
    for ct_id, ids in wanted.items():
        scope |= Q(content_type_id=ct_id, object_id__in=ids)
    states: dict[tuple[int, int], FormSdv] = {(types[type(f)].pk, f.pk): FormSdv() for f in forms}
    for mark in SdvMark.objects.filter(scope).select_related("verified_by", "cleared_by").order_by("verified_at", "pk"):
        state = states[(mark.content_type_id, mark.object_id)]
        if mark.cleared_at is None:
            if mark.field_name:
                state.fields[mark.field_name] = mark
            else:
                state.whole = mark
            state.cleared.pop(mark.field_name, None)
        else:
            state.cleared[mark.field_name] = mark
    for state in states.values():
        for name in list(state.cleared):
            if name in state.fields or (name == "" and state.whole is not None):
                del state.cleared[name]
    return states


def sdv_state(form: CrfInstance) -> FormSdv:
    if form.pk is None:
        return FormSdv()
    return sdv_states([form])[(ContentType.objects.get_for_model(type(form)).pk, form.pk)]


@dataclass
class WorklistRow:
    form: CrfInstance
    full: bool
    sdv: FormSdv


def sdv_worklist(user: User, *, site: Site) -> list[WorklistRow]:
    """What remains to verify at one site: every saved form (not entered in error) of the
    site's visible subjects that the study's SDV plan selects and no whole-form mark covers,
    by subject and form. A fixed number of queries: one per form type, one for the marks."""
    from crf.registry import crf_models

    access.require(user, Action.MARK_SDV, site=site)
    plan = plan_for(site.study)
    subjects = subjects_visible_to(user).filter(site=site)
    forms: list[CrfInstance] = []
    for model in crf_models().values():
        forms.extend(
            model._default_manager.filter(subject__in=subjects, entered_in_error=False)
            .select_related("subject__site", "visit__definition")
            .order_by("pk")
        )
    states = sdv_states(forms)
    types = ContentType.objects.get_for_models(*{type(f) for f in forms}) if forms else {}
    rows = []
    for form in forms:
        if not selected(plan, form):
            continue
        state = states[(types[type(form)].pk, form.pk)]
        if state.verified:
            continue
        rows.append(WorklistRow(form=form, full=form.crf_code in plan.full_forms, sdv=state))
    rows.sort(key=lambda r: (r.form.subject.subject_id or "", r.form.casebook_order, r.form.crf_code, r.form.pk))
    return rows


#: the worklist's sort keys (issue 24 item 5), each with its secondary order
WORKLIST_SORTS: dict[str, Callable[[WorklistRow], Any]] = {
    "subject": lambda r: (str(r.form.subject), r.form.casebook_order, _date_key(r), r.form.pk),
    "form": lambda r: (r.form.casebook_order, r.form.crf_code, str(r.form.subject), _date_key(r), r.form.pk),
    "date": lambda r: (_date_key(r), str(r.form.subject), r.form.casebook_order, r.form.pk),
    "status": lambda r: (r.sdv.state, str(r.form.subject), r.form.casebook_order, r.form.pk),
}


def _date_key(row: WorklistRow) -> str:
    when = row.form.clinical_date()
    return when.isoformat() if when else "9999"


def filter_worklist(
    rows: list[WorklistRow], *, subject: str = "", form: str = "", visit: str = "", status: str = "", sort: str = ""
) -> list[WorklistRow]:
    """The worklist narrowed by subject (ID or screening number), form code, visit code and SDV
    state ("none", "partial", "cleared"), in the chosen order (WORKLIST_SORTS; default subject)."""
    picked = [
        r
        for r in rows
        if (not subject or str(r.form.subject) == subject)
        and (not form or r.form.crf_code == form)
        and (not visit or (r.form.visit is not None and r.form.visit.definition.code == visit))
        and (not status or r.sdv.state == status)
    ]
    order = sort.lstrip("-") if sort.lstrip("-") in WORKLIST_SORTS else "subject"
    picked.sort(key=WORKLIST_SORTS[order], reverse=sort.startswith("-"))
    return picked
