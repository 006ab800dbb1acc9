from django.db import transaction
from django.utils.decorators import method_decorator
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.views import LoginView as KnoxLoginView
from rest_framework import serializers
from rest_framework.authentication import BasicAuthentication


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

    def handle_exception(self, exc):  # type: ignore[no-untyped-def]
        # DRF flags the innermost transaction for rollback on every error answer; give it a
        # savepoint of its own so the flag cannot reach a caller's transaction.
        with transaction.atomic():
            return super().handle_exception(exc)


class _KnoxLogoutSchema(OpenApiViewExtension):
    """knox's logout views declare no serializer; describe them (204, no body) so the schema
    and `check --deploy` stay clean. Registered by importing this module (StudyConfig.ready)."""

    target_class = "knox.views.LogoutView"

    def view_replacement(self):  # type: ignore[no-untyped-def]
        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(request=None, responses={204: None}, summary="Revoke the token used")
            def post(self, request, format=None):  # type: ignore[no-untyped-def]
                return super().post(request, format=format)

        return Fixed


class _KnoxLogoutAllSchema(_KnoxLogoutSchema):
    target_class = "knox.views.LogoutAllView"

    def view_replacement(self):  # type: ignore[no-untyped-def]
        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(request=None, responses={204: None}, summary="Revoke all of the user's tokens")
            def post(self, request, format=None):  # type: ignore[no-untyped-def]
                return super().post(request, format=format)

        return Fixed
