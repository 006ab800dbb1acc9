from django.db import transaction
from django.utils.decorators import method_decorator
from knox.views import LoginView as KnoxLoginView
from rest_framework.authentication import BasicAuthentication


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class TokenLoginView(KnoxLoginView):
    """POST with HTTP Basic credentials returns a hashed, expiring, revocable token (knox).
    Failed attempts count toward the same lockout as the login page (axes backend).

    Not inside the request transaction: DRF rolls that back when it answers 401, which would
    also roll back the failed-attempt record axes has just written, so API guessing would
    never lock."""

    authentication_classes = [BasicAuthentication]

    def handle_exception(self, exc):  # type: ignore[no-untyped-def]
        # DRF flags the innermost transaction for rollback on every error answer; give it a
        # savepoint of its own so the flag cannot reach a caller's transaction.
        with transaction.atomic():
            return super().handle_exception(exc)
