"""API paging (issue 21): `?limit=` is capped, so one request cannot ask for every row at once."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """`limit` beyond MAX_LIMIT is served as MAX_LIMIT (the `next` link continues from there)."""

    max_limit = MAX_LIMIT
