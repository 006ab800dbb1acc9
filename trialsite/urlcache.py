"""A URL resolver that remembers where the paths without captured values go (issue 22, ninth
pass): the API router's ~200 patterns are tried one by one on every request, and an API save's
path (`vital-signs/`, `crs-assessments/`…, no id in it) was ~0.4 ms of its CPU — a tenth of a
vital-signs save. A path whose match captured nothing resolves the same way every time for the
same patterns, so its match is kept; a path with an id (a detail route) is resolved as before.
The patterns are a fixed list (an `include` of the router's URLs): when the URLconf is reloaded
(tests' `override_settings(ROOT_URLCONF=…)`, `clear_url_caches`) a new resolver starts empty.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLResolver
from django.urls.resolvers import ResolverMatch, RoutePattern

#: at most this many paths kept per resolver (the router has ~60 paths without an id)
LIMIT = 512


class CachingResolver(URLResolver):
    """`URLResolver` over a list of patterns whose matches that captured nothing are kept by path.
    The match returned is the one first built; an enclosing resolver builds its own from it
    (Django's `URLResolver.resolve` copies what it takes), so nothing shares it with a request."""

    def __init__(self, patterns: list[Any]) -> None:
        super().__init__(RoutePattern("", is_endpoint=False), patterns)
        self._kept: dict[str, ResolverMatch] = {}

    def resolve(self, path: Any) -> ResolverMatch:
        path = str(path)
        kept = self._kept.get(path)
        if kept is not None:
            return kept
        match = super().resolve(path)
        if not match.args and not match.kwargs and not match.captured_kwargs and len(self._kept) < LIMIT:
            self._kept[path] = match
        return match
