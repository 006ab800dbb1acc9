"""The API router's patterns sit behind a resolver that keeps where a path without an id goes
(`trialsite.urlcache`, issue 22 ninth pass): every API path resolves to what Django's own
resolver over the same patterns gives, a path without captured values is kept and served again
without trying the patterns, and a path with an id is resolved each time."""

from __future__ import annotations

import pytest
from django.urls import URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern

from trialsite import api_urls
from trialsite.urlcache import LIMIT, CachingResolver

pytestmark = pytest.mark.req("ISSUE-22")


def the_caching_resolver() -> CachingResolver:
    (found,) = [p for p in api_urls.urlpatterns if isinstance(p, CachingResolver)]
    return found


def described(match) -> tuple:
    return (match.func.__name__, match.url_name, match.route, match.args, match.kwargs, match.captured_kwargs)


PATHS = [
    "vital-signs/",
    "crs-assessments/",
    "lab-results/",
    "adverse-events/",
    "subjects/",
    "vital-signs/12/",
    "crs-assessments/7/entered-in-error/",
    "vital-signs.json",
    "",
]


def test_every_path_resolves_as_djangos_own_resolver_over_the_same_patterns():
    plain = URLResolver(RoutePattern("", is_endpoint=False), api_urls.router.urls)
    caching = CachingResolver(api_urls.router.urls)
    for path in PATHS * 2:  # the second time from what was kept
        assert described(caching.resolve(path)) == described(plain.resolve(path)), path
    kept = set(caching._kept)
    assert kept == {"vital-signs/", "crs-assessments/", "lab-results/", "adverse-events/", "subjects/", ""}


def test_a_kept_path_does_not_try_the_patterns_again(monkeypatch):
    caching = CachingResolver(api_urls.router.urls)
    first = caching.resolve("vital-signs/")
    tried = []
    monkeypatch.setattr(URLResolver, "resolve", lambda self, path: tried.append(path))
    assert caching.resolve("vital-signs/") is first
    assert tried == []


def test_the_request_path_goes_through_it_and_the_match_is_the_views():
    caching = the_caching_resolver()
    caching._kept.clear()
    match = resolve("/api/v1/vital-signs/")
    assert (match.url_name, match.route) == ("vital-signs-list", "api/v1/vital-signs/$")
    assert "vital-signs/" in caching._kept
    again = resolve("/api/v1/vital-signs/")
    assert described(again) == described(match) and again is not match  # each request its own
    detail = resolve("/api/v1/vital-signs/12/")
    assert (detail.url_name, detail.kwargs) == ("vital-signs-detail", {"pk": "12"})
    assert "vital-signs/12/" not in caching._kept
    assert get_resolver().resolve("/api/v1/vital-signs/").func is match.func


def test_it_keeps_a_bounded_number_of_paths():
    caching = CachingResolver(api_urls.router.urls)
    match = caching.resolve("subjects/")
    caching._kept = {f"x{i}/": match for i in range(LIMIT)}
    assert caching.resolve("vital-signs/").url_name == "vital-signs-list"
    assert len(caching._kept) == LIMIT and "vital-signs/" not in caching._kept
