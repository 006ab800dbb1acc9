"""Reads of subjects. `subjects_visible_to` is the visibility gate (DESIGN §4 "Visibility gate",
STYLE habit 5): every view, API, export and dashboard reaches subjects only through it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.http import Http404

from study import access
from study.roles import Action
from subjects.models import Subject

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User


def subjects_visible_to(user: User | AnonymousUser) -> QuerySet[Subject]:
    """Subjects at the sites where the user holds an active role; nothing for anyone else."""
    return Subject.objects.filter(site__in=access.sites_visible_to(user)).select_related("site", "site__study")


def access_subject(user: User | AnonymousUser, subject_pk: int | str, action: Action) -> Subject:
    """The subject, if visible (else 404) and `action` is allowed at its site (else 403)."""
    try:
        subject = subjects_visible_to(user).get(pk=subject_pk)
    except (Subject.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    access.require(user, action, site=subject.site)
    return subject
