"""Who may do what, where: the single enforcement point of DESIGN §4a, and the one visibility gate
(DESIGN §3 `study/access.py`, §4 "Visibility gate", STYLE habit 5).

Every view and API asks these helpers (Zulip's `access_*` pattern). Objects outside the user's
sites answer 404 (the visibility gate); actions the user's role lacks at a visible site answer
403. Every view, API, export and dashboard reaches subjects only through `subjects_visible_to`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.db.models import QuerySet
from django.http import Http404

from dbtools.prepared import prepared
from study.models import Membership, Site, Study
from study.roles import Action, role_may
from study.subject_models import subject_model

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User


def _active_of_id(user_id: int) -> QuerySet[Membership]:
    """The active memberships of the user with this id: the one definition of "active"."""
    return Membership.objects.filter(user_id=user_id, ended_at__isnull=True)


def active_memberships(user: User | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated or not user.is_active:
        return Membership.objects.none()
    return _active_of_id(user.pk).select_related("site", "site__study")


_memo = threading.local()


@contextmanager
def memberships_read_once() -> Iterator[None]:
    """Within the block each user's active memberships are read once (one save: the API's
    check, the save service's, the audit context's roles — issue 22). Memberships do not change
    inside a save; outside such a block every check reads them afresh. Re-entrant."""
    outer = getattr(_memo, "found", None)
    if outer is None:
        _memo.found = {}
    try:
        yield
    finally:
        if outer is None:
            _memo.found = None


@prepared("user_id")
def _active_of(user_id: int) -> QuerySet[Membership]:
    """`active_memberships` of an active user, from a statement compiled once (dbtools.prepared;
    issue 22: every request reads them)."""
    return _active_of_id(user_id).select_related("site", "site__study")


def _read_memberships(user: User | AnonymousUser) -> list[Membership]:
    if not user.is_authenticated or not user.is_active:
        return []
    return _active_of.objects(user_id=user.pk)


def _memberships(user: User | AnonymousUser) -> list[Membership]:
    found: dict[int, list[Membership]] | None = getattr(_memo, "found", None)
    if found is None or not user.is_authenticated:
        return _read_memberships(user)
    if user.pk not in found:
        found[user.pk] = _read_memberships(user)
    return found[user.pk]


def sites_visible_to(user: User | AnonymousUser) -> QuerySet[Site]:
    """Sites where the user holds any active role: the root of the visibility gate."""
    return Site.objects.filter(pk__in=active_memberships(user).values("site_id"))


def sites_where(user: User | AnonymousUser, action: Action) -> QuerySet[Site]:
    """Sites where one of the user's active roles permits `action`."""
    site_ids = [m.site_id for m in _memberships(user) if role_may(m.role, action)]
    return Site.objects.filter(pk__in=site_ids)


def roles_at(user: User | AnonymousUser, site: Site) -> set[str]:
    return {m.role for m in _memberships(user) if m.site_id == site.pk}


def can(user: User | AnonymousUser, action: Action, *, site: Site) -> bool:
    return any(role_may(role, action) for role in roles_at(user, site))


def can_anywhere(user: User | AnonymousUser, action: Action, *, study: Study | None = None) -> bool:
    return any((study is None or m.site.study_id == study.pk) and role_may(m.role, action) for m in _memberships(user))


def require(user: User | AnonymousUser, action: Action, *, site: Site) -> None:
    """403 unless the user may do `action` at `site` (the caller has already passed the gate)."""
    if not can(user, action, site=site):
        raise PermissionDenied


def require_anywhere(user: User | AnonymousUser, action: Action, *, study: Study | None = None) -> None:
    if not can_anywhere(user, action, study=study):
        raise PermissionDenied


def studies_visible_to(user: User | AnonymousUser) -> QuerySet[Study]:
    return Study.objects.filter(pk__in=sites_visible_to(user).values("study_id"))


def administered_studies(user: User | AnonymousUser) -> QuerySet[Study]:
    return Study.objects.filter(pk__in=sites_where(user, Action.ADMINISTER).values("study_id"))


def subjects_visible_to(user: User | AnonymousUser) -> QuerySet[Any]:
    """The visibility gate: subjects at the sites where the user holds an active role; nothing
    for anyone else. A `QuerySet` of `subjects.models.Subject` with its site and study."""
    return subject_model().objects.filter(site__in=sites_visible_to(user)).select_related("site", "site__study")


@prepared("user_id", "pk")
def _visible_subject(user_id: int, pk: int) -> QuerySet[Any]:
    """`subjects_visible_to` (the gate's subjects at the sites of the user's active memberships)
    narrowed to one id."""
    sites = Site.objects.filter(pk__in=_active_of_id(user_id).values("site_id"))
    return subject_model().objects.filter(pk=pk, site__in=sites).select_related("site", "site__study")


def visible_subject(user: User | AnonymousUser, pk: int) -> Any | None:
    """`subjects_visible_to(user).get(pk=pk)`, None where that finds nothing, from a statement
    compiled once (dbtools.prepared; issue 22: every API save reads its subject so)."""
    if not user.is_authenticated or not user.is_active:
        return None
    key = subject_model()._meta.pk
    low, high = connections[router.db_for_read(key.model)].ops.integer_field_range(key.get_internal_type())
    if (low is not None and pk < low) or (high is not None and pk > high):
        return None  # as the ORM's exact lookup answers an id out of the column's range: no row
    found = _visible_subject.objects(user_id=user.pk, pk=pk)
    return found[0] if found else None


def access_subject(user: User | AnonymousUser, subject_pk: int | str, action: Action) -> Any:
    """The `subjects.models.Subject`, if visible (else 404) and `action` is allowed at its site
    (else 403)."""
    model = subject_model()
    try:
        subject = subjects_visible_to(user).get(pk=subject_pk)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    require(user, action, site=subject.site)
    return subject
