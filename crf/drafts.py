"""Server-side drafts of form pages (DESIGN §4 "Identity record": drafts of unsaved forms are
kept server-side, never in the browser's storage; issue 4 item 6: a draft kept if the session
expires mid-form). The page posts what was typed; reopening the page offers it back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.urls import Resolver404, resolve
from django.utils import timezone

from crf.models import FormDraft
from study import access
from study.access import access_subject
from study.roles import Action

if TYPE_CHECKING:
    from study.models import User

#: Never kept: the CSRF token and the draft's own bookkeeping.
SKIPPED = frozenset({"csrfmiddlewaretoken", "draft_path"})


def may_draft(user: User, path: str) -> bool:
    """Only for a form entry page of a subject the user may edit."""
    from crf.views import form_entry

    try:
        match = resolve(path)
    except Resolver404:
        return False
    if match.func is not form_entry:
        return False
    try:
        subject = access_subject(user, match.kwargs["subject_pk"], Action.VIEW_CRF)
    except (Http404, PermissionDenied):
        return False
    return access.can(user, Action.EDIT_CRF, site=subject.site)


def keep(user: User, path: str, data: QueryDict) -> FormDraft:
    values = {key: data.getlist(key) for key in data if key not in SKIPPED}
    draft, _created = FormDraft.objects.update_or_create(
        user=user, path=path, defaults={"data": values, "saved_at": timezone.now()}
    )
    return draft


def draft_for(user: User, path: str) -> FormDraft | None:
    return FormDraft.objects.filter(user=user, path=path).first()


def discard(user: User, path: str) -> None:
    FormDraft.objects.filter(user=user, path=path).delete()


def as_query_dict(draft: FormDraft) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, values in draft.data.items():
        data.setlist(key, list(values))
    return data
