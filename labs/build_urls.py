"""Laboratory pages of the study build (issue 27 item 1), under /admin/."""

from django.urls import path

from labs import build_views

app_name = "labs_build"

urlpatterns = [
    path("laboratories/", build_views.laboratory_list, name="laboratories"),
    path("laboratories/<int:pk>/", build_views.laboratory_detail, name="laboratory"),
]
