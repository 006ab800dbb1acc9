"""`Idempotency-Key` for creates (issue 32 §1): a client that lost the answer to a POST (a
worker killed mid-request, a dropped connection) retries with the same key and gets the first
answer — the same record, once — instead of a second save.

The key row is inserted in the request's transaction (ATOMIC_REQUESTS) before the save and
completed with the answer after it, so it exists exactly when the save committed. A concurrent
retry blocks on the key's unique index until the first request ends: after a commit it replays
the answer, after a rollback it saves afresh. Keys live a day (`KEEP`); a key reused for a
different request (method, path or body) is refused with 422.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.models import IdempotentRequest

HEADER = "Idempotency-Key"
KEEP = timedelta(days=1)
KEY = re.compile(r"^[\x21-\x7e]{1,100}$")


def fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def purge_expired(now: Any = None) -> int:
    """Delete keys older than a day (the nightly beat task, and before each lookup)."""
    deleted, _per_model = IdempotentRequest.objects.filter(created_at__lt=(now or timezone.now()) - KEEP).delete()
    return deleted


def idempotent(request: Request, create: Callable[[], Response]) -> Response:
    """Run `create` at most once per (user, Idempotency-Key); without the header, just run it."""
    key = request.headers.get(HEADER)
    if key is None:
        return create()
    if not KEY.match(key):
        raise ValidationError({HEADER: [_("Use 1 to 100 visible ASCII characters, e.g. a UUID.")]})
    now = timezone.now()
    digest = fingerprint(request)
    IdempotentRequest.objects.filter(user=request.user, key=key, created_at__lt=now - KEEP).delete()
    try:
        with transaction.atomic():
            # Blocks while another request holding this key is in flight; raises once it committed.
            IdempotentRequest.objects.create(
                user=request.user, key=key, fingerprint=digest, status_code=0, response_body={}, created_at=now
            )
    except IntegrityError:
        first = IdempotentRequest.objects.get(user=request.user, key=key)
        if first.fingerprint != digest:
            return Response(
                {HEADER: [_("This key was already used for a different request. Use a new key for a new record.")]},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        headers = {"Idempotent-Replayed": "true"}
        if first.response_etag:
            headers["ETag"] = first.response_etag
        return Response(first.response_body, status=first.status_code, headers=headers)
    response = create()
    IdempotentRequest.objects.filter(user=request.user, key=key).update(
        status_code=response.status_code, response_body=response.data, response_etag=response.get("ETag", "")
    )
    return response
