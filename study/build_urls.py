"""Study build pages (issue 27 item 1), under /admin/."""

from django.urls import path

from study import build_views

app_name = "study_build"

urlpatterns = [
    path("sites/", build_views.site_list, name="sites"),
    path("sites/add/", build_views.site_edit, name="site_add"),
    path("sites/<int:pk>/", build_views.site_edit, name="site_edit"),
    path("schedule/", build_views.schedule, name="schedule"),
    path("dose-levels/", build_views.dose_levels, name="dose_levels"),
]
