from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from crf.import_api import CsvImportView
from mytasks.views import study_home
from trialsite import health

handler403 = "trialsite.errors.permission_denied"
handler404 = "trialsite.errors.not_found"
handler500 = "trialsite.errors.server_error"

urlpatterns = [
    path("health/", health.health, name="health"),
    path("django-admin/", admin.site.urls),
    path("api/v1/imports/<str:code>/", CsvImportView.as_view(), name="api-import"),
    path("api/v1/", include("trialsite.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("subjects/import/", include("crf.import_urls")),
    path("subjects/", include("subjects.urls")),
    path("subjects/", include("labs.urls")),
    path("subjects/", include("response.urls")),
    path("history/", include("crf.urls")),
    path("data/", include("datamanagement.query_sdv_lock_urls")),
    path("data/", include("datamanagement.urls")),
    path("", include("endpoints.dashboard_urls")),
    path("safety/", include("adverse_events.urls")),
    path("endpoints/", include("endpoints.urls")),
    path("exports/", include("exports.urls")),
    path("tasks/", include("mytasks.urls")),
    path("admin/", include("study.build_urls")),
    path("admin/", include("labs.build_urls")),
    path("", study_home, name="home"),
    path("", include("study.urls")),
]
