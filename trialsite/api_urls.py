from django.urls import path
from rest_framework.routers import DefaultRouter

from adverse_events.api import CrsEpisodeViewSet, IcansEpisodeViewSet
from adverse_events.dlt_api import DltCandidateViewSet, DltMonitorViewSet
from crf.api import register_crf_resources
from datamanagement.api import SignatureViewSet
from datamanagement.api_audit import AuditEventViewSet
from datamanagement.api_pdfs import PdfJobViewSet
from datamanagement.query_sdv_lock_api import DataLockViewSet, QueryViewSet, SdvMarkViewSet
from endpoints.api import EndpointRunViewSet
from exports.api import ExportViewSet
from study.api import TokenLoginView, TokenLogoutAllView, TokenLogoutView
from subjects.api import SubjectViewSet, VisitViewSet
from trialsite.urlcache import CachingResolver

router = DefaultRouter()
router.register("subjects", SubjectViewSet, basename="subject")
router.register("visits", VisitViewSet, basename="visit")
router.register("dlt-candidates", DltCandidateViewSet, basename="dlt-candidate")
router.register("dlt-monitor", DltMonitorViewSet, basename="dlt-monitor")
router.register("endpoint-runs", EndpointRunViewSet, basename="endpoint-run")
router.register("exports", ExportViewSet, basename="export")
register_crf_resources(router)  # every CRF whose declaration names an `api_resource` (DESIGN §6)
router.register("queries", QueryViewSet, basename="query")
router.register("sdv-marks", SdvMarkViewSet, basename="sdv-mark")
router.register("locks", DataLockViewSet, basename="lock")
router.register("crs-episodes", CrsEpisodeViewSet, basename="crs-episode")
router.register("icans-episodes", IcansEpisodeViewSet, basename="icans-episode")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("signatures", SignatureViewSet, basename="signature")
router.register("pdfs", PdfJobViewSet, basename="pdf")

urlpatterns = [
    path("auth/login/", TokenLoginView.as_view(), name="knox-login"),
    path("auth/logout/", TokenLogoutView.as_view(), name="knox-logout"),
    path("auth/logoutall/", TokenLogoutAllView.as_view(), name="knox-logoutall"),
    # the router's patterns behind a resolver that keeps where the paths without an id go
    CachingResolver(router.urls),
]
