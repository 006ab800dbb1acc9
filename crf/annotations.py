"""The annotated CRF's pages (issue 26): declared by the app that owns the SDTM mapping
(`exports`, in its AppConfig.ready) and read by the PDF builder (`datamanagement.pdfs`), so
data management does not import exports. No declaration is an error, never an empty CRF."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

_provider: Callable[[], Sequence[Any]] | None = None


def provide_annotated_pages(func: Callable[[], Sequence[Any]]) -> Callable[[], Sequence[Any]]:
    global _provider
    _provider = func
    return func


def annotated_pages() -> Sequence[Any]:
    """The pages (each with `destination`, `dataset`, `forms`, `assigned`) in define.xml's order."""
    if _provider is None:
        raise ImproperlyConfigured("No app declares the annotated CRF's pages (exports.apps does).")
    return _provider()
