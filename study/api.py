from knox.views import LoginView as KnoxLoginView
from rest_framework.authentication import BasicAuthentication


class TokenLoginView(KnoxLoginView):
    """POST with HTTP Basic credentials returns a hashed, expiring, revocable token (knox).
    Failed attempts count toward the same lockout as the login page (axes backend)."""

    authentication_classes = [BasicAuthentication]
