from django.urls import path

from endpoints import views

app_name = "endpoints"
urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("<int:pk>/", views.run_detail, name="run_detail"),
    path("<int:pk>/tables.<str:fmt>", views.run_file, name="run_file"),
    path("<int:pk>/tables/<slug:key>.<str:fmt>", views.table_file, name="table_file"),
]
