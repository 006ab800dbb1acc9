"""The language a user reads, for pages (`trialsite.middleware.UserLocaleMiddleware`), e-mails and
alerts. Imports no model: the middleware module loads with the settings, before the app registry."""

from __future__ import annotations

from django.conf import settings


def user_language(user) -> str:  # type: ignore[no-untyped-def]
    """The language a user reads: their own choice, else the default of their first site, else
    the installation's (pages, e-mails and alerts alike; issue 25)."""
    if user.language:
        return str(user.language)
    membership = user.memberships.filter(ended_at__isnull=True).select_related("site").order_by("pk").first()
    if membership is not None:
        return str(membership.site.default_language)
    return str(settings.LANGUAGE_CODE)
