from django.urls import include, path
from rest_framework.routers import DefaultRouter

from crf.api import register_crf_resources
from endpoints.api import EndpointRunViewSet
from study.api import TokenLoginView, TokenLogoutAllView, TokenLogoutView
from subjects.api import SubjectViewSet, VisitViewSet

router = DefaultRouter()
router.register("subjects", SubjectViewSet, basename="subject")
router.register("visits", VisitViewSet, basename="visit")
router.register("endpoint-runs", EndpointRunViewSet, basename="endpoint-run")
register_crf_resources(router)  # every CRF that declares `api_resource` (DESIGN §6)

urlpatterns = [
    path("auth/login/", TokenLoginView.as_view(), name="knox-login"),
    path("auth/logout/", TokenLogoutView.as_view(), name="knox-logout"),
    path("auth/logoutall/", TokenLogoutAllView.as_view(), name="knox-logoutall"),
    path("", include(router.urls)),
]
