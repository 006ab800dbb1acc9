from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("", views.export_list, name="list"),
    path("<int:pk>/", views.export_detail, name="detail"),
    path("<int:pk>/files/<str:name>", views.export_file, name="file"),
    path("<int:pk>/archive.zip", views.export_archive, name="archive"),
]
