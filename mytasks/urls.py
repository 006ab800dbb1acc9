from django.urls import path

from mytasks import views

app_name = "mytasks"
urlpatterns = [
    path("", views.my_tasks, name="home"),
]
