"""API token authentication whose cost does not grow with the user's tokens (issue 22).

knox 5.1's `TokenAuthentication` finds the presented token by its key prefix (`token_key`,
indexed) and compares one digest, but before that `_cleanup_token` reads every token of the
user and deletes the expired ones among them, one statement each: a request of a user holding
n tokens reads n rows. Here a request reads only the row of its key prefix; an expired token
is refused and deleted when it is presented, as knox does. The user's other expired tokens
are deleted when the user creates a token (`study.services.create_api_token`), not per request.
"""

from __future__ import annotations

import binascii
from hmac import compare_digest
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions

from dbtools.prepared import Prepared


def _tokens_of_key(token_key: str) -> QuerySet[Any]:
    return get_token_model().objects.filter(token_key=token_key).select_related("user")


#: knox's read of the presented key's tokens with their user, compiled once (dbtools.prepared;
#: issue 22, sixth pass: every API request compiled it)
_tokens = Prepared(_tokens_of_key, (), texts=("token_key",))


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's token authentication (hashed, expiring tokens found by their key prefix), minus
    the per-request read of all of the user's tokens, its read compiled once."""

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        """knox 5.1's, the tokens of the key prefix read by `_tokens`."""
        msg = _("Invalid token.")
        text = token.decode("utf-8")
        for auth_token in _tokens.objects(token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(text)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(msg) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)  # type: ignore[no-any-return]
        raise exceptions.AuthenticationFailed(msg)

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
