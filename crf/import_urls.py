from django.urls import path

from crf import import_views

app_name = "crf_import"
urlpatterns = [
    path("", import_views.start, name="start"),
    path("<int:pk>/", import_views.preview, name="preview"),
    path("<int:pk>/errors.csv", import_views.preview_report, name="preview_report"),
    path("<int:pk>/confirm/", import_views.confirm, name="confirm"),
    path("records/<int:pk>/", import_views.record, name="record"),
    path("records/<int:pk>/errors.csv", import_views.record_report, name="record_report"),
    path("templates/<str:code>.csv", import_views.template, name="template"),
    path("templates/<str:code>/", import_views.columns_page, name="columns"),
]
