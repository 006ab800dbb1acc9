from django.urls import path
from django.views.generic import RedirectView

from adverse_events import dlt_views, views

app_name = "adverse_events"
urlpatterns = [
    path("ctcae-terms/", views.ctcae_terms, name="ctcae_terms"),
    path("subjects/<int:subject_pk>/crs/live-grade/", views.crs_live_grade, name="crs_live_grade"),
    path("subjects/<int:subject_pk>/icans/live-grade/", views.icans_live_grade, name="icans_live_grade"),
    path("subjects/<int:subject_pk>/gvhd/live-grade/", views.gvhd_live_grade, name="gvhd_live_grade"),
    path("subjects/<int:subject_pk>/icaht/", views.icaht_page, name="icaht"),
    path("subjects/<int:subject_pk>/episodes/", views.episode_list, name="episodes"),
    path("subjects/<int:subject_pk>/episodes/<str:kind>/<int:pk>/", views.episode_detail, name="episode"),
]

urlpatterns += [
    path("dlt/", dlt_views.dlt_monitor, name="dlt_monitor"),
    path("dlt/candidates/<int:pk>/", dlt_views.dlt_candidate, name="dlt_candidate"),
    path("subjects/<int:subject_pk>/sae/<int:pk>/", dlt_views.sae_detail, name="sae"),
    # the old safety-only list: notifications are one list now (datamanagement, issue 31 item 1)
    path(
        "notifications/",
        RedirectView.as_view(pattern_name="datamanagement:notifications", permanent=True, query_string=True),
        name="notifications",
    ),
    path("alerts/", dlt_views.alert_deliveries, name="alerts"),
    path("sponsor-contacts/", dlt_views.sponsor_contacts, name="sponsor_contacts"),
]
