from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from trialsite import health

handler403 = "trialsite.errors.permission_denied"
handler404 = "trialsite.errors.not_found"
handler500 = "trialsite.errors.server_error"

urlpatterns = [
    path("health/", health.health, name="health"),
    path("django-admin/", admin.site.urls),
    path("api/v1/", include("trialsite.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("subjects/", include("subjects.urls")),
    path("history/", include("crf.urls")),
    path("safety/", include("adverse_events.urls")),
    path("", include("study.urls")),
]
