"""Signing, breaking and verifying electronic signatures (issue 26 item 1; DESIGN §4
"E-signatures"; 21 CFR Part 11 §11.50, §11.70, §11.100, §11.200).

- `sign`: an investigator at the subject's site (DESIGN §4a "sign") signs one form, one visit or
  the casebook, with a meaning. §11.200(a)(1): the first signing in a session takes the user ID
  and the password, later ones in the same session the password only (`SESSION_KEY` marks the
  session). Both go through `django.contrib.auth.authenticate`, so a wrong password is a failed
  login for django-axes and counts toward the lockout; it signs nothing. A lock refuses signing,
  a freeze allows it (DESIGN §4).
- `break_after_change`: the hook `crf.services.on_form_change` calls inside every write through
  the save path (new form, update, entered in error, re-derivation): every intact signature
  covering the changed form is marked broken, once, with who, when and what changed; the
  change's own audit context gets `broken_signatures` (their ids), so the history row of the
  edit names the signatures it broke.
- `verify`: recomputes the canonical content's SHA-256 and compares it with the stored one, so
  a change made by any path (even one that bypasses the save service) shows; `refresh` marks
  such a signature broken too ("found changed on verification").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pghistory
from django.contrib.auth import authenticate
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from crf import locks
from crf.models import CrfInstance, DataLock
from crf.services import batch_memo
from datamanagement import canonical
from datamanagement.models import Signature, SignatureMeaning, SignatureScope
from dbtools.prepared import prepared
from study import access
from study.access import subjects_visible_to
from study.audit_context import audit_context
from study.roles import Action

if TYPE_CHECKING:
    from study.models import User

#: set in the session after a signing with user ID and password (§11.200(a)(1)(i))
SESSION_KEY = "esig_identified_user"


class ReauthenticationFailed(ValidationError):
    """The user ID or password given to sign was wrong: nothing was signed."""


def printed_name(user: User) -> str:
    """§11.50(a)(1): the signer's printed name (the account's, else its full name or user ID)."""
    return str(user.display_name()).strip()


def identified_in_session(request: HttpRequest, user: User) -> bool:
    session = getattr(request, "session", None)
    return session is not None and session.get(SESSION_KEY) == user.pk


def _reauthenticate(request: HttpRequest, user: User, *, username: str, password: str) -> None:
    """§11.200(a)(1): both components the first time in a session, the password afterwards."""
    needs_id = not identified_in_session(request, user)
    if needs_id and not username.strip():
        raise ValidationError({"username": _("Give your user ID: this is your first signature in this session.")})
    given = username.strip() if username.strip() else user.username
    if not password:
        raise ValidationError({"password": _("Give your password to sign.")})
    # authenticate() sends user_login_failed on a wrong password: django-axes counts it.
    found = authenticate(request, username=given, password=password)
    if found is None or found.pk != user.pk:
        raise ReauthenticationFailed(
            {"password": _("The user ID or password is not correct. Nothing was signed.")}, code="reauth"
        )
    if getattr(request, "session", None) is not None:
        request.session[SESSION_KEY] = user.pk


def _target_check(*, subject: Any, scope: str, visit: Any, form: CrfInstance | None) -> None:
    if scope not in SignatureScope.values:
        raise ValidationError({"scope": _("Choose form, visit or casebook.")})
    if scope == SignatureScope.FORM:
        if form is None or form.pk is None:
            raise ValidationError({"form": _("Name the form to sign.")})
        if form.subject_id != subject.pk:
            raise ValidationError({"form": _("This form belongs to another subject.")})
        locks.assert_not_locked(form)
    else:
        if scope == SignatureScope.VISIT and (visit is None or visit.subject_id != subject.pk):
            raise ValidationError({"visit": _("Name a visit of this subject.")})
        if any(lock.kind == DataLock.Kind.LOCK and lock.object_id is None for lock in locks.locks_in_subject(subject)):
            raise ValidationError(_("This casebook is locked: it cannot be signed."), code="locked")


def sign(
    *,
    request: HttpRequest,
    user: User,
    subject: Any,
    scope: str,
    meaning: str,
    password: str,
    username: str = "",
    visit: Any = None,
    form: CrfInstance | None = None,
) -> Signature:
    """Sign after re-authentication. Not atomic itself: a failed re-authentication must stay
    recorded for the lockout while nothing is signed; the signature is written in one
    transaction afterwards. Raises PermissionDenied or ValidationError (nothing signed)."""
    if not access.can(user, Action.SIGN, site=subject.site):
        raise PermissionDenied
    if meaning not in SignatureMeaning.values:
        raise ValidationError({"meaning": _("Choose the meaning of your signature.")})
    _target_check(subject=subject, scope=scope, visit=visit, form=form)
    _reauthenticate(request, user, username=username, password=password)
    return _record(user=user, subject=subject, scope=scope, meaning=meaning, visit=visit, form=form)


@transaction.atomic
def _record(*, user: User, subject: Any, scope: str, meaning: str, visit: Any, form: CrfInstance | None) -> Signature:
    forms = canonical.covered_forms(scope=scope, subject=subject, visit=visit, form=form)
    doc = canonical.document(scope=scope, subject=subject, visit=visit, forms=forms)
    signature = Signature(
        subject=subject,
        scope=scope,
        visit=visit if scope == SignatureScope.VISIT else None,
        content_type=ContentType.objects.get_for_model(type(form)) if scope == SignatureScope.FORM and form else None,
        object_id=form.pk if scope == SignatureScope.FORM and form else None,
        signer=user,
        printed_name=printed_name(user),
        meaning=meaning,
        signed_at=timezone.now(),
        time_zone=subject.site.time_zone,
        canonical_format=canonical.FORMAT,
        content_sha256=canonical.sha256(doc),
        covered=[[f.crf_code, f.pk, f.version] for f in forms],
    )
    signature.full_clean(exclude=["subject", "visit", "content_type", "signer"])
    with audit_context(user=user, site=subject.site, reason=str(SignatureMeaning(meaning).label)):
        signature.save()
    return signature


# --- breaking --------------------------------------------------------------------------------


def _covers(signature: Signature, form: CrfInstance, content_type_id: int) -> bool:
    if signature.scope == SignatureScope.CASEBOOK:
        return True
    if signature.scope == SignatureScope.FORM:
        return signature.content_type_id == content_type_id and signature.object_id == form.pk
    listed = any(code == form.crf_code and pk == form.pk for code, pk, *_rest in signature.covered)
    return listed or (form.visit_id is not None and form.visit_id == signature.visit_id)


def _mark_broken(signatures: list[Signature], *, user: User | None, why: str) -> None:
    if not signatures:
        return
    ids = [s.pk for s in signatures]
    # Name the broken signatures in the change's own audit context (same context row).
    try:
        from pghistory.runtime import _tracker  # pghistory's private runtime: its absence tolerated

        earlier = list(_tracker.value.metadata.get("broken_signatures", []))
    except (ImportError, AttributeError):
        earlier = []
    pghistory.context(broken_signatures=sorted(set(earlier) | set(ids)))
    Signature.objects.filter(pk__in=ids, broken_at__isnull=True).update(
        broken_at=timezone.now(), broken_by=user, broken_reason=why[:500]
    )


@prepared("subject_id")
def _intact_signatures(subject_id: int) -> QuerySet[Signature]:
    return Signature.objects.filter(subject_id=subject_id, broken_at__isnull=True)


def break_after_change(*, user: User | None, form: CrfInstance, changed: list[str], reason: str) -> None:
    """crf.services.on_form_change hook, called inside the write's transaction and audit context
    just before the write: the change's history row then carries `broken_signatures`."""
    # read once per subject in a batch of saves (the CSV import): only these writes break them
    intact = batch_memo(
        ("intact signatures", form.subject_id), lambda: _intact_signatures.objects(subject_id=form.subject_id)
    )
    if not intact:
        return
    content_type_id = ContentType.objects.get_for_model(type(form)).pk
    hit = [s for s in intact if _covers(s, form, content_type_id)]
    if form.pk is None:
        why = _("%(form)s added") % {"form": form.crf_code}
    else:
        fields = ", ".join(changed[:12]) + ("…" if len(changed) > 12 else "")
        why = _("%(form)s #%(id)s changed (%(fields)s)") % {"form": form.crf_code, "id": form.pk, "fields": fields}
    if reason:
        why += f": {reason}"
    _mark_broken(hit, user=user, why=why)
    intact[:] = [s for s in intact if s not in hit]


# --- verification and lists ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    signature: Signature
    current_sha256: str
    matches: bool


def _target_form(signature: Signature) -> CrfInstance | None:
    if signature.scope != SignatureScope.FORM or signature.content_type is None:
        return None
    model = signature.content_type.model_class()
    return model._default_manager.filter(pk=signature.object_id).first() if model is not None else None  # type: ignore[return-value]


def current_sha256(signature: Signature) -> str:
    form = _target_form(signature)
    forms = canonical.covered_forms(scope=signature.scope, subject=signature.subject, visit=signature.visit, form=form)
    return canonical.sha256(
        canonical.document(scope=signature.scope, subject=signature.subject, visit=signature.visit, forms=forms)
    )


def verify(signature: Signature) -> Verification:
    now = current_sha256(signature)
    return Verification(signature=signature, current_sha256=now, matches=now == signature.content_sha256)


@transaction.atomic
def refresh(signatures: list[Signature]) -> list[Signature]:
    """Recompute the hash of intact signatures; any whose content no longer matches is marked
    broken now (a change through a path that bypassed the save service)."""
    stale = [s for s in signatures if s.broken_at is None and not verify(s).matches]
    if stale:
        with audit_context(user=None, reason=_("signed content found changed on verification")):
            _mark_broken(stale, user=None, why=_("Signed content found changed on verification."))
        for s in stale:
            s.refresh_from_db()
    return signatures


def signatures_visible_to(user: User) -> QuerySet[Signature]:
    """Signatures on subjects the gate lets the user see at sites where they may view CRF pages."""

    visible = subjects_visible_to(user).filter(site__in=access.sites_where(user, Action.VIEW_CRF))
    return Signature.objects.filter(subject__in=visible).select_related(
        "subject__site", "visit__definition", "content_type", "signer", "broken_by"
    )


def to_resign(user: User) -> list[Signature]:
    """The investigator's "to re-sign" list: broken signatures at sites where the user may sign,
    with no later intact signature of the same scope and target."""
    sites = access.sites_where(user, Action.SIGN)
    broken = list(
        signatures_visible_to(user).filter(subject__site__in=sites, broken_at__isnull=False).order_by("-broken_at")
    )
    if not broken:
        return []
    intact = Signature.objects.filter(subject__in={s.subject_id for s in broken}, broken_at__isnull=True)
    later: dict[tuple[Any, ...], Any] = {}
    for s in intact:
        key = (s.subject_id, s.scope, s.visit_id, s.content_type_id, s.object_id)
        later[key] = max(later.get(key, s.signed_at), s.signed_at)
    out, seen = [], set()
    for s in broken:
        key = (s.subject_id, s.scope, s.visit_id, s.content_type_id, s.object_id)
        if key in seen or (key in later and later[key] > s.signed_at):
            continue
        seen.add(key)
        out.append(s)
    return out


def latest_broken(signatures: QuerySet[Signature]) -> QuerySet[Signature]:
    """The broken signatures among `signatures` that are still the latest signature of their
    target (same subject, scope and visit or form): those waiting to be signed again, one per
    target — `to_resign`'s rule as one query, for counting and the task list (issue 31)."""
    same_target = (
        Q(scope=SignatureScope.CASEBOOK)
        | Q(scope=SignatureScope.VISIT, visit=OuterRef("visit"))
        | Q(scope=SignatureScope.FORM, content_type=OuterRef("content_type"), object_id=OuterRef("object_id"))
    )
    later = Signature.objects.filter(
        same_target,
        subject=OuterRef("subject"),
        scope=OuterRef("scope"),
        signed_at__gt=OuterRef("signed_at"),
    )
    return signatures.filter(broken_at__isnull=False).exclude(Exists(later))


def signatures_on(*, subject: Any, form: CrfInstance | None = None, visit: Any = None) -> list[Signature]:
    """Signatures whose manifestation belongs on a page: those of the form, of its visit and of
    the casebook (newest first)."""
    scope = Q(scope=SignatureScope.CASEBOOK)
    if form is not None:
        scope |= Q(
            scope=SignatureScope.FORM,
            content_type=ContentType.objects.get_for_model(type(form)),
            object_id=form.pk,
        )
        visit = visit or getattr(form, "visit", None)
    if visit is not None:
        scope |= Q(scope=SignatureScope.VISIT, visit=visit)
    return list(Signature.objects.filter(scope, subject=subject).select_related("signer", "visit__definition"))
