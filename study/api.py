from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.views import LoginView as KnoxLoginView
from knox.views import LogoutAllView as KnoxLogoutAllView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework import serializers
from rest_framework.authentication import BasicAuthentication
from rest_framework.exceptions import PermissionDenied

from study import services
from study.auth import TokenAuthentication


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class TokenLoginView(KnoxLoginView):
    """POST with HTTP Basic credentials returns a hashed, expiring, revocable token (knox).
    Failed attempts count toward the same lockout as the login page (axes backend).

    Not inside the request transaction: DRF rolls that back when it answers 401, which would
    also roll back the failed-attempt record axes has just written, so API guessing would
    never lock."""

    authentication_classes = [BasicAuthentication]

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "TokenLogin", {"expiry": serializers.DateTimeField(), "token": serializers.CharField()}
        ),
        summary="Exchange HTTP Basic credentials for an API token",
    )
    def post(self, request, format=None):  # type: ignore[no-untyped-def]
        return super().post(request, format=format)

    def create_token(self):  # type: ignore[no-untyped-def]
        """Through the token service, so the new token is audited like one made on the page."""
        try:
            return services.create_api_token(user=self.request.user)
        except ValidationError as exc:
            raise PermissionDenied(" ".join(exc.messages)) from exc

    def handle_exception(self, exc):  # type: ignore[no-untyped-def]
        # DRF flags the innermost transaction for rollback on every error answer; give it a
        # savepoint of its own so the flag cannot reach a caller's transaction.
        with transaction.atomic():
            return super().handle_exception(exc)


class TokenLogoutView(KnoxLogoutView):
    """Revoke the token this request used; audited as an AccountEvent."""

    authentication_classes = (TokenAuthentication,)  # the project's (study.auth), not knox's

    @extend_schema(request=None, responses={204: None}, summary="Revoke the token used")
    def post(self, request, format=None):  # type: ignore[no-untyped-def]
        services.revoke_api_token(user=request.user, token_key=request._auth.token_key)
        return self.get_post_response(request)


class TokenLogoutAllView(KnoxLogoutAllView):
    """Revoke every token of the requesting user; audited as an AccountEvent."""

    authentication_classes = (TokenAuthentication,)

    @extend_schema(request=None, responses={204: None}, summary="Revoke all of the user's tokens")
    def post(self, request, format=None):  # type: ignore[no-untyped-def]
        services.revoke_own_api_tokens(user=request.user)
        return self.get_post_response(request)
