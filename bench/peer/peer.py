"""Baseline for CRF-save overhead: the cheapest honest Django write of one CRS-assessment-sized
row (one POST, one INSERT, JSON reply) on the same PostgreSQL. The project's CRF save is
measured against it in the same run; the ratio is the overhead of validation, grading and audit.
Run: DATABASE_URL=postgres://... gunicorn -w 2 peer:app  (then python peer.py migrate once)."""

import json
import os
import sys

import django
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.db import connection, models
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

settings.configure(
    DEBUG=False,
    SECRET_KEY="peer-baseline-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PEER_DB", "peerbase"),
            "USER": "postgres",
            "PASSWORD": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": 60,
        }
    },
    USE_TZ=True,
)
django.setup()


class Assessment(models.Model):  # noqa: DJ008 (the peer, as measured: no __str__)
    subject = models.CharField(max_length=20)
    day = models.IntegerField()
    tmax = models.DecimalField(max_digits=4, decimal_places=1)
    o2_device = models.CharField(max_length=30)
    o2_flow = models.DecimalField(max_digits=5, decimal_places=1, null=True)
    vasopressors = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "peer"


@csrf_exempt
def save(request):
    data = json.loads(request.body)
    row = Assessment.objects.create(**data)
    return JsonResponse({"id": row.pk}, status=201)


urlpatterns = [path("save/", save)]

app = get_wsgi_application()

if __name__ == "__main__" and sys.argv[1:] == ["migrate"]:
    with connection.schema_editor() as editor:
        try:
            editor.create_model(Assessment)
        except Exception as exc:  # already there
            print("exists:", exc)
    print("ready")
