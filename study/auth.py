"""API token authentication whose cost does not grow with the user's tokens (issue 22).

knox 5.1's `TokenAuthentication` finds the presented token by its key prefix (`token_key`,
indexed) and compares one digest, but before that `_cleanup_token` reads every token of the
user and deletes the expired ones among them, one statement each: a request of a user holding
n tokens reads n rows. Here a request reads only the row of its key prefix; an expired token
is refused and deleted when it is presented, as knox does. The user's other expired tokens
are deleted when the user creates a token (`study.services.create_api_token`), not per request.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from knox.signals import token_expired


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's token authentication (hashed, expiring tokens found by their key prefix), minus
    the per-request read of all of the user's tokens."""

    def _cleanup_token(self, auth_token: Any) -> bool:
        """True (skip it) if this token has expired, after deleting it; the user's other tokens
        are not read."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of knox's class, for this subclass (same name)."""

    target_class = "study.auth.TokenAuthentication"
