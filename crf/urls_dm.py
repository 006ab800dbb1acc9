"""Data-management pages (issue 7): queries, SDV, freezes and locks, under /data/."""

from django.urls import path

from crf import views_queries, views_sdv_locks

app_name = "crf_dm"
urlpatterns = [
    path("queries/", views_queries.query_list, name="query_list"),
    path("subjects/<int:subject_pk>/queries/", views_queries.query_list, name="subject_queries"),
    path("queries/<int:pk>/", views_queries.query_detail, name="query_detail"),
    path("queries/<int:pk>/<str:step>/", views_queries.query_step, name="query_step"),
    path(
        "subjects/<int:subject_pk>/forms/<str:code>/<int:pk>/query/",
        views_queries.raise_query,
        name="query_raise",
    ),
    path("subjects/<int:subject_pk>/forms/<str:code>/<int:pk>/sdv/", views_sdv_locks.mark_sdv, name="sdv_mark"),
    path("sdv/", views_sdv_locks.sdv_worklist, name="sdv_worklist"),
    path("sdv/plan/", views_sdv_locks.sdv_plan, name="sdv_plan"),
    path("locks/", views_sdv_locks.lock_list, name="lock_list"),
    path("locks/new/", views_sdv_locks.lock_set, name="lock_set"),
    path("locks/<int:pk>/lift/", views_sdv_locks.lock_lift, name="lock_lift"),
]
