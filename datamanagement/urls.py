from django.urls import path

from datamanagement import report_views

app_name = "datamanagement"
urlpatterns = [
    path("reports/", report_views.report_index, name="reports"),
    path("reports/<slug:key>/", report_views.report, name="report"),
]
