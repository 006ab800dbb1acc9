"""Re-derivation after a new protocol settings version (DESIGN §4)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from crf import derivations, locks, services
from crf.audit import audit_context
from crf.models import CrfInstance
from study.models import ProtocolSettings, Rederivation


def rederive_for_settings(*, settings_id: int) -> list[Rederivation]:
    """Recompute derived values of every form of the study dated on or after the version's
    effective date with the audit reason "re-derived: …". Idempotent: a form already listed for
    this version is skipped. Forms under a freeze or lock keep their values and are listed as
    "skipped_locked" (re-deriving them after the lock lifts comes with the lock pages, #7).

    Forms are re-derived in clinical-date order within each form type, each in its own
    transaction: a marrow assessment's response reads the subject's earlier responses (CR
    before relapse, CLINICAL_SPEC §5.1), which must already carry the new version's values."""
    version = ProtocolSettings.objects.select_related("study").get(pk=settings_id)
    done: list[Rederivation] = []
    reason = f"re-derived: protocol settings v{version.version} effective {version.effective_from}"
    for model in derivations.derived_models():
        if not getattr(model, "derived_from_protocol_settings", True):
            continue  # e.g. lab unit conversion: a settings version changes nothing there
        date_field = model.clinical_date_field
        label = model._meta.label_lower
        candidates = (
            model._default_manager.filter(
                subject__site__study=version.study,
                entered_in_error=False,
                **{f"{date_field}__gte": version.effective_from},
            )
            .exclude(pk__in=Rederivation.objects.filter(settings=version, form_label=label).values("object_id"))
            .order_by(date_field, "pk")
        )
        for pk in candidates.values_list("pk", flat=True):
            row = _rederive_one(model, pk, version, label, reason)
            if row is not None:
                done.append(row)
    return done


@transaction.atomic
def _rederive_one(
    model: type[CrfInstance], pk: int, version: ProtocolSettings, label: str, reason: str
) -> Rederivation | None:
    instance = model._default_manager.select_for_update().select_related("subject__site").get(pk=pk)
    try:
        locks.assert_data_writable(instance)
    except ValidationError:
        # Listed, so the data manager sees what still carries the old derivation.
        return Rederivation.objects.create(
            settings=version,
            outcome=Rederivation.Outcome.SKIPPED_LOCKED,
            form_label=label,
            object_id=pk,
            clinical_date=instance.clinical_date(),
            at=timezone.now(),
        )
    changed = derivations.derive(instance)
    previous = model._default_manager.filter(pk=pk).values(*changed).get() if changed else {}
    if changed:
        with audit_context(user=None, site=instance.subject.site, reason=reason):
            services.notify_form_changed(user=None, form=instance, changed=sorted(changed), reason=reason)
            model._default_manager.filter(pk=pk).update(**changed, version=F("version") + 1)
    return Rederivation.objects.create(
        settings=version,
        form_label=label,
        object_id=pk,
        clinical_date=instance.clinical_date(),
        changed={k: str(v) for k, v in changed.items()},
        previous={k: str(v) for k, v in previous.items()},
        at=timezone.now(),
    )


def listed_changes(settings_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """What each settings version changed, for the settings page (DESIGN §4 "lists them"): per
    version, the forms whose derived values changed or that a freeze or lock kept, with the
    subject, the form, its clinical date and each changed value old → new (the bookkeeping
    fields — settings version, stored inputs — are left out; the form's history has them).
    One query per form type listed, whatever the number of rows."""
    rows = list(
        Rederivation.objects.filter(settings_id__in=settings_ids)
        .exclude(outcome=Rederivation.Outcome.REDERIVED, changed={})
        .order_by("settings_id", "clinical_date", "form_label", "object_id")
    )
    by_label: dict[str, set[int]] = {}
    for row in rows:
        by_label.setdefault(row.form_label, set()).add(row.object_id)
    forms: dict[tuple[str, int], CrfInstance] = {}
    for label, ids in by_label.items():
        model = apps.get_model(label)
        for form in model._default_manager.filter(pk__in=ids).select_related("subject"):
            forms[(label, form.pk)] = form
    listed: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        form = forms.get((row.form_label, row.object_id))
        if form is None:
            continue
        model = type(form)
        values = []
        for name, new in row.changed.items():
            field = model._meta.get_field(name)
            if name == "settings_version" or isinstance(field, models.JSONField):
                continue
            old = row.previous.get(name, "—")
            shown = dict(field.flatchoices) if field.choices else {}
            values.append(
                {
                    "name": name,
                    "field": field.verbose_name,
                    "old": old,
                    "new": new,
                    "old_label": shown.get(old, old),
                    "new_label": shown.get(new, new),
                }
            )
        listed.setdefault(row.settings_id, []).append(
            {
                "subject": form.subject,
                "form": model._meta.verbose_name,
                "clinical_date": row.clinical_date,
                "skipped": row.outcome == Rederivation.Outcome.SKIPPED_LOCKED,
                "values": values,
                "form_url": reverse("subjects:form_edit", args=[form.subject_id, model.crf_code, form.pk]),
                "history_url": reverse("crf:history", args=[row.form_label, form.pk]),
            }
        )
    return listed
