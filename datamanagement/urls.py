"""Data-management pages under /data/: signatures, the lock checklist, audit review (issue 26)
and the sponsor's reports (issue 31)."""

from django.urls import path

from datamanagement import notification_views, report_views, views, views_audit, views_pdfs

app_name = "datamanagement"
urlpatterns = [
    path("signatures/", views.signature_list, name="signatures"),
    path("signatures/sign/", views.sign, name="sign"),
    path("lock-checklist/", views.lock_checklist, name="lock_checklist"),
    path("audit/", views_audit.audit_review, name="audit"),
    path("audit/export.<str:fmt>", views_audit.audit_export, name="audit_export"),
    path("pdfs/", views_pdfs.pdf_list, name="pdfs"),
    path("pdfs/<int:pk>/", views_pdfs.pdf_detail, name="pdf"),
    path("pdfs/<int:pk>/download/", views_pdfs.pdf_download, name="pdf_download"),
    path("pdfs/casebook/<int:subject_pk>/", views_pdfs.casebook_pdf, name="casebook_pdf"),
    path("reports/", report_views.report_index, name="reports"),
    path("reports/<slug:key>/", report_views.report, name="report"),
    path("notifications/", notification_views.notification_list, name="notifications"),
    path("notifications/settings/", notification_views.notification_settings, name="notification_settings"),
]
