from django.urls import path

from crf import views

app_name = "crf"
urlpatterns = [
    path("<str:label>/<str:pk>/", views.history, name="history"),
]
