"""Re-derivation after a new protocol settings version (DESIGN §4)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crf import derivations, locks
from crf.audit import audit_context
from crf.models import CrfInstance
from study.models import ProtocolSettings, Rederivation


def rederive_for_settings(*, settings_id: int) -> list[Rederivation]:
    """Recompute derived values of every form of the study dated on or after the version's
    effective date with the audit reason "re-derived: …". Idempotent: a form already listed for
    this version is skipped. Forms under a freeze or lock keep their values and are listed as
    "skipped_locked" (re-deriving them after the lock lifts comes with the lock pages, #7)."""
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
            .order_by("pk")
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
    if changed:
        with audit_context(user=None, site=instance.subject.site, reason=reason):
            model._default_manager.filter(pk=pk).update(**changed, version=F("version") + 1)
    return Rederivation.objects.create(
        settings=version,
        form_label=label,
        object_id=pk,
        clinical_date=instance.clinical_date(),
        changed={k: str(v) for k, v in changed.items()},
        at=timezone.now(),
    )
