"""Writes to study configuration and accounts (STYLE habit 3: keyword-only, typed, atomic).

Each function records an AccountEvent beside the row-level trigger history, and runs inside
`pghistory.context` so the history rows carry who did it and why.
"""

from __future__ import annotations

import pghistory
from axes.utils import reset as axes_reset
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from knox.models import AuthToken
from knox.settings import knox_settings

from study import access
from study.models import AccountEvent, Membership, Site, User
from study.roles import Action


def _require_admin_of(actor: User, site: Site) -> None:
    if not access.can_anywhere(actor, Action.ADMINISTER, study=site.study):
        raise PermissionDenied


def _audit(*, actor: User, reason: str, **extra: str) -> pghistory.context:
    """The history context of one administrative change: who did it and why."""
    return pghistory.context(reason=reason, user=actor.pk, username=actor.username, **extra)


def _log(*, user: User, actor: User, kind: str, detail: str = "") -> None:
    event = AccountEvent(user=user, actor=actor, kind=kind, detail=detail[:300], at=timezone.now())
    event.full_clean()
    event.save()


def invitation_link(*, user: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url.rstrip("/") + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


@transaction.atomic
def invite_user(
    *,
    actor: User,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    printed_name: str,
    language: str,
    site: Site,
    role: str,
    base_url: str,
) -> User:
    """Create an account with no usable password, grant its first role and e-mail a link to set
    the password."""
    _require_admin_of(actor, site)
    with _audit(actor=actor, reason="invite user", site=site.code):
        user = User(
            username=username,
            email=email,
            first_name=first_name,
            last_name=last_name,
            printed_name=printed_name,
            language=language,
        )
        user.set_unusable_password()
        user.full_clean()
        user.save()
        _log(user=user, actor=actor, kind=AccountEvent.Kind.INVITED, detail=email)
        _grant(actor=actor, user=user, site=site, role=role)
    link = invitation_link(user=user, base_url=base_url)
    with translation.override(language or site.default_language):
        body = render_to_string("study/email/invitation.txt", {"user": user, "link": link, "site": site})
        send_mail(_("Your TrialSite account"), body, None, [email])
    return user


def _refuse_own_roles(actor: User, user: User) -> None:
    """Nobody grants or changes their own roles (DESIGN §4a notes, issue 21)."""
    if actor.pk == user.pk:
        raise PermissionDenied(_("You cannot change your own roles; ask another study administrator."))


@transaction.atomic
def grant_role(*, actor: User, user: User, site: Site, role: str) -> Membership:
    _require_admin_of(actor, site)
    _refuse_own_roles(actor, user)
    with _audit(actor=actor, reason="grant role", site=site.code):
        return _grant(actor=actor, user=user, site=site, role=role)


def _grant(*, actor: User, user: User, site: Site, role: str) -> Membership:
    """The write behind grant_role, inside the caller's audit context (pghistory merges nested
    contexts into one row, so a nested `context(reason=…)` would overwrite the caller's reason)."""
    if Membership.objects.filter(user=user, site=site, role=role, ended_at__isnull=True).exists():
        raise ValidationError({"role": _("This user already holds this role at this site.")})
    membership = Membership(user=user, site=site, role=role, granted_by=actor, granted_at=timezone.now())
    membership.full_clean()
    membership.save()
    _log(user=user, actor=actor, kind=AccountEvent.Kind.ROLE_GRANTED, detail=f"{role} @ {site.code}")
    return membership


@transaction.atomic
def end_role(*, actor: User, membership: Membership, reason: str) -> Membership:
    _require_admin_of(actor, membership.site)
    _refuse_own_roles(actor, membership.user)
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for ending this role.")})
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.ended_at is not None:
        raise ValidationError(_("This role has already ended."))
    with _audit(actor=actor, reason=reason.strip(), site=membership.site.code):
        membership.ended_at = timezone.now()
        membership.ended_by = actor
        membership.end_reason = reason.strip()
        membership.full_clean()
        membership.save(update_fields=["ended_at", "ended_by", "end_reason"])
        _log(
            user=membership.user,
            actor=actor,
            kind=AccountEvent.Kind.ROLE_ENDED,
            detail=f"{membership.role} @ {membership.site.code}: {reason}",
        )
    return membership


def _require_admin_of_user(actor: User, user: User) -> None:
    studies = access.administered_studies(actor)
    if not Membership.objects.filter(user=user, site__study__in=studies).exists():
        raise PermissionDenied


@transaction.atomic
def set_user_active(*, actor: User, user: User, active: bool, reason: str) -> User:
    """Deactivate (never delete) or reactivate an account."""
    _require_admin_of_user(actor, user)
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason.")})
    if user.pk == actor.pk and not active:
        raise ValidationError(_("You cannot deactivate your own account."))
    with _audit(actor=actor, reason=reason.strip()):
        user.is_active = active
        user.save(update_fields=["is_active"])
        kind = AccountEvent.Kind.REACTIVATED if active else AccountEvent.Kind.DEACTIVATED
        _log(user=user, actor=actor, kind=kind, detail=reason)
        if not active:
            # Nothing of the account survives a reactivation: its API tokens and sessions end now.
            count, _by_model = AuthToken.objects.filter(user=user).delete()
            if count:
                _log(user=user, actor=actor, kind=AccountEvent.Kind.API_TOKENS_REVOKED, detail=f"{count}: {reason}")
            end_sessions(user=user)
    return user


def end_sessions(*, user: User) -> int:
    """Delete every stored session signed in as `user`; returns how many."""
    from django.contrib.sessions.models import Session

    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
            ended += 1
    return ended


@transaction.atomic
def unlock_user(*, actor: User, user: User) -> int:
    """Lift a failed-login lockout for this username (all addresses). Returns attempts cleared."""
    _require_admin_of_user(actor, user)
    cleared = axes_reset(username=user.username)
    with _audit(actor=actor, reason="unlock"):
        _log(user=user, actor=actor, kind=AccountEvent.Kind.UNLOCKED, detail=str(cleared))
    return int(cleared or 0)


@transaction.atomic
def set_language(*, user: User, language: str) -> User:
    if language not in {"", "en", "zh-hans"}:
        raise ValidationError({"language": _("Unknown language.")})
    with _audit(actor=user, reason="language preference"):
        user.language = language
        user.save(update_fields=["language"])
    return user


# --- API tokens (DESIGN §6: stored hashed, expiring, revocable per user) -------------------------


def live_api_tokens(user: User) -> list[AuthToken]:
    """The user's tokens that still work, newest first (knox keeps only a digest and a prefix)."""
    return list(
        AuthToken.objects.filter(user=user)
        .filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()))
        .order_by("-created", "token_key")
    )


@transaction.atomic
def create_api_token(*, user: User) -> tuple[AuthToken, str]:
    """A new token for the user's own API use: the plain token is returned once, to be shown
    once; only its SHA-512 digest is stored. It expires after REST_KNOX TOKEN_TTL."""
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and len(live_api_tokens(user)) >= limit:
        raise ValidationError(
            _("You already hold %(limit)s API tokens: revoke one you no longer use first.") % {"limit": limit}
        )
    with _audit(actor=user, reason="API token created"):
        # the user's expired tokens go now: authentication reads only the presented token
        # (study.auth), so it no longer deletes them on every request
        AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
        token, plain = AuthToken.objects.create(user=user)
        _log(user=user, actor=user, kind=AccountEvent.Kind.API_TOKEN_CREATED, detail=token.token_key)
    return token, plain


@transaction.atomic
def revoke_api_token(*, user: User, token_key: str) -> None:
    """Revoke one of the user's own tokens, named by its key prefix."""
    tokens = AuthToken.objects.filter(user=user, token_key=token_key)
    if not tokens.exists():
        raise ValidationError(_("No such API token."))
    with _audit(actor=user, reason="API token revoked"):
        tokens.delete()
        _log(user=user, actor=user, kind=AccountEvent.Kind.API_TOKEN_REVOKED, detail=token_key)


@transaction.atomic
def revoke_own_api_tokens(*, user: User) -> int:
    """The user revokes every one of their tokens (POST /api/v1/auth/logoutall/)."""
    with _audit(actor=user, reason="API tokens revoked"):
        count, _by_model = AuthToken.objects.filter(user=user).delete()
        _log(user=user, actor=user, kind=AccountEvent.Kind.API_TOKENS_REVOKED, detail=str(count))
    return count


@transaction.atomic
def revoke_user_api_tokens(*, actor: User, user: User, reason: str) -> int:
    """A study admin revokes every API token of a user of their study, with a reason."""
    _require_admin_of_user(actor, user)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason.")})
    with _audit(actor=actor, reason=reason):
        count, _by_model = AuthToken.objects.filter(user=user).delete()
        _log(user=user, actor=actor, kind=AccountEvent.Kind.API_TOKENS_REVOKED, detail=f"{count}: {reason}")
    return count


@transaction.atomic
def create_study_admin(*, username: str, email: str, password: str, site: Site, printed_name: str = "") -> User:
    """The first study administrator of a new installation (`manage.py create_study_admin`):
    there is no administrator yet to act, so the account is its own actor in the account log.
    The password must pass the password validators; nothing is saved otherwise."""
    from django.contrib.auth.password_validation import validate_password

    from study.roles import Role

    user = User(username=username, email=email, printed_name=printed_name or username)
    user.full_clean(exclude=["password"])
    validate_password(password, user)
    user.set_password(password)
    with pghistory.context(reason="create study administrator (command line)", username=username, site=site.code):
        user.save()
        membership = Membership(user=user, site=site, role=Role.STUDY_ADMIN, granted_at=timezone.now())
        membership.full_clean()
        membership.save()
        _log(user=user, actor=user, kind=AccountEvent.Kind.ROLE_GRANTED, detail=f"{Role.STUDY_ADMIN} @ {site.code}")
    return user
