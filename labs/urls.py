from django.urls import path

from labs import views

app_name = "labs"
urlpatterns = [
    path("<int:subject_pk>/labs/new/", views.choose_panel, name="choose_panel"),
    path("<int:subject_pk>/labs/<str:panel>/new/", views.panel_new, name="panel_new"),
    path("<int:subject_pk>/labs/collections/<int:pk>/", views.panel_edit, name="panel_edit"),
]
