"""The dashboards of issue 13: the safety dashboard under /safety/, the response and survival
page and the run plots under /endpoints/, the study overview under /overview/."""

from django.urls import path

from endpoints import dashboard_views as views

app_name = "dashboards"
urlpatterns = [
    path("safety/dashboard/", views.safety_dashboard, name="safety"),
    path("safety/dashboard/swimmer.svg", views.swimmer_svg, name="swimmer_svg"),
    path("endpoints/efficacy/", views.efficacy, name="efficacy"),
    path("endpoints/<int:pk>/plots/<slug:name>.svg", views.run_plot, name="run_plot"),
    path("overview/", views.overview, name="overview"),
    path("overview/enrolment.svg", views.enrolment_svg, name="enrolment_svg"),
]
