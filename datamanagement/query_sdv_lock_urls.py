"""Data-management pages (issue 7): queries, SDV, freezes and locks, under /data/."""

from django.urls import path

from datamanagement import query_views, sdv_lock_views

app_name = "crf_dm"
urlpatterns = [
    path("queries/", query_views.query_list, name="query_list"),
    path("subjects/<int:subject_pk>/queries/", query_views.query_list, name="subject_queries"),
    path("queries/<int:pk>/", query_views.query_detail, name="query_detail"),
    path("queries/<int:pk>/<str:step>/", query_views.query_step, name="query_step"),
    path(
        "subjects/<int:subject_pk>/forms/<str:code>/<int:pk>/query/",
        query_views.raise_query,
        name="query_raise",
    ),
    path("subjects/<int:subject_pk>/forms/<str:code>/<int:pk>/sdv/", sdv_lock_views.mark_sdv, name="sdv_mark"),
    path("sdv/", sdv_lock_views.sdv_worklist, name="sdv_worklist"),
    path("sdv/plan/", sdv_lock_views.sdv_plan, name="sdv_plan"),
    path("locks/", sdv_lock_views.lock_list, name="lock_list"),
    path("locks/new/", sdv_lock_views.lock_set, name="lock_set"),
    path("locks/<int:pk>/lift/", sdv_lock_views.lock_lift, name="lock_lift"),
]
