from django.urls import path

from response import views

app_name = "response"
urlpatterns = [
    path("<int:subject_pk>/marrow/live/", views.live_response, name="live"),
    path("<int:subject_pk>/marrow/<int:pk>/adjudicate/", views.adjudicate, name="adjudicate"),
]
