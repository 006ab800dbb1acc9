"""Data-management pages of issue 26, under /data/: signatures and the lock checklist."""

from django.urls import path

from datamanagement import views, views_audit

app_name = "datamanagement"
urlpatterns = [
    path("signatures/", views.signature_list, name="signatures"),
    path("signatures/sign/", views.sign, name="sign"),
    path("lock-checklist/", views.lock_checklist, name="lock_checklist"),
    path("audit/", views_audit.audit_review, name="audit"),
    path("audit/export.<str:fmt>", views_audit.audit_export, name="audit_export"),
]
