"""Data-management pages of issue 26, under /data/: signatures and the lock checklist."""

from django.urls import path

from datamanagement import views

app_name = "datamanagement"
urlpatterns = [
    path("signatures/", views.signature_list, name="signatures"),
    path("signatures/sign/", views.sign, name="sign"),
    path("lock-checklist/", views.lock_checklist, name="lock_checklist"),
]
