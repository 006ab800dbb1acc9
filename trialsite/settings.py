"""TrialSite settings: one file, driven by the environment (STYLE habit 9).

Every variable is documented in `.env.example`. Safe defaults: DEBUG off, no secret in git,
secure cookies whenever DEBUG is off.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
import pghistory
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from trialsite.embedded import LOCAL_DIR as EMBEDDED_LOCAL_DIR
from trialsite.services_urls import celery_broker_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Secrets only from the environment. A development key is allowed only with DEBUG on.
if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-development-key-only-for-debug")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served from our static files (no CDN)
    "django_htmx",
    "axes",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    # our apps
    "study",
    "crf",
    "jobs",
    "datamanagement",
    "subjects",
    "labs",
    "adverse_events",
    "response",
    "survival",
    "endpoints",
    "exports",
    "mytasks",
    "demo",
    # the project package, for its operations commands (backup, restore, check_installation,
    # validation_pack, setup_database) next to the code they run; it holds no model (issue 23)
    "trialsite",
]

AUTH_USER_MODEL = "study.User"
# The subject models the apps below subjects/ (study.access, crf, datamanagement) read, named as
# AUTH_USER_MODEL names the user model; read through study.subject_models (issue 23). Constants.
TRIALSITE_SUBJECT_MODEL = "subjects.Subject"
TRIALSITE_VISIT_MODEL = "subjects.Visit"
TRIALSITE_IDENTITY_MODEL = "subjects.IdentityRecord"
TRIALSITE_ELIGIBILITY_MODEL = "subjects.EligibilityAssessment"
TRIALSITE_CONSENT_MODEL = "subjects.InformedConsent"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "trialsite.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "trialsite.middleware.NoStoreMiddleware",
    # Language: Accept-Language before login, the user's choice after (so after auth).
    "trialsite.middleware.UserLocaleMiddleware",
    "trialsite.middleware.InputGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "trialsite.middleware.SessionExpiryMiddleware",
    "study.audit_context.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Runs the view in the request transaction and once more when PostgreSQL aborts it as a
    # deadlock victim (trialsite/dbretry.py); the last process_view, so the others run first.
    "trialsite.dbretry.DeadlockRetryMiddleware",
    # AxesMiddleware last, as its docs ask.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "trialsite.urls"
WSGI_APPLICATION = "trialsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "trialsite.context_processors.session_timeouts",
                "adverse_events.context_processors.safety_notifications",
                "datamanagement.context_processors.notifications",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
# DATABASE_URL is the application's connection. `make run` / tests set it to an embedded
# PostgreSQL when it is not given (trialsite/embedded.py); there is no SQLite fallback.
DATABASES = {
    "default": {
        **env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/trialsite"),
        "ATOMIC_REQUESTS": True,
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
    }
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- audit trail -----------------------------------------------------------------------------
# The context (who, role, site, reason, request id) is stored on each history row itself, which
# is append-only, instead of in pghistory's shared, updatable context table (DESIGN §4).
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()

# --- Redis / Celery ---------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = celery_broker_url(env.str("CELERY_BROKER_URL", default="") or REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
# The soft limit raises SoftTimeLimitExceeded in the task (its transaction rolls back) shortly
# before the hard kill; it stays positive for short limits too.
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - max(1, min(60, CELERY_TASK_TIME_LIMIT // 10))
# Redis redelivers an unacknowledged task only after the visibility timeout: it must exceed the
# longest task, or a long task runs twice.
BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 30 * 60)
if BROKER_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Periodic work (run by `celery beat`): the nightly endpoint run of every study (DESIGN §5), and
# failing endpoint runs a dead worker left "running" past the time limit.
# A pause after each endpoint table, so fault tests and operators can catch a worker mid-run; 0 in use.
ENDPOINT_RUN_STEP_PAUSE_SECONDS = env.float("ENDPOINT_RUN_STEP_PAUSE_SECONDS", default=0.0)
#: a pause after each dataset of an export (fault tests kill a worker mid-export); 0 in production
EXPORT_STEP_PAUSE_SECONDS = env.float("EXPORT_STEP_PAUSE_SECONDS", default=0.0)
#: processes an export uses (exports.parallel): chunks of subjects built and files written by forked
#: workers; 1 = all in the worker's own process
EXPORT_WORKERS = env.int("EXPORT_WORKERS", default=2)
#: a pause after each PDF document is rendered (fault tests kill a worker mid-build); 0 in production
PDF_STEP_PAUSE_SECONDS = env.float("PDF_STEP_PAUSE_SECONDS", default=0.0)
# Job heartbeat and stuck-job recovery (jobs.services, issue 32): a worker writes a running job's
# heartbeat every JOB_HEARTBEAT_SECONDS; a beat task every JOB_RECOVERY_INTERVAL_SECONDS requeues
# the jobs whose heartbeat is older than JOB_HEARTBEAT_TIMEOUT_SECONDS (their worker died). The
# broker's visibility timeout stays long; fault tests lower these three, never it.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=15.0)
JOB_HEARTBEAT_TIMEOUT_SECONDS = env.float("JOB_HEARTBEAT_TIMEOUT_SECONDS", default=90.0)
JOB_RECOVERY_INTERVAL_SECONDS = env.float("JOB_RECOVERY_INTERVAL_SECONDS", default=60.0)
if JOB_HEARTBEAT_TIMEOUT_SECONDS < 3 * JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("JOB_HEARTBEAT_TIMEOUT_SECONDS must be at least 3 × JOB_HEARTBEAT_SECONDS")
_RECOVERY = {"schedule": JOB_RECOVERY_INTERVAL_SECONDS, "options": {"expires": JOB_RECOVERY_INTERVAL_SECONDS}}
CELERY_BEAT_SCHEDULE = {
    "nightly-endpoint-runs": {
        "task": "endpoints.tasks.nightly_endpoint_runs",
        "schedule": crontab(hour=env.int("ENDPOINT_RUN_HOUR_UTC", default=18), minute=0),
    },
    # every declared job kind (endpoint runs, exports, PDF documents: jobs.kinds), one task each
    "fail-stuck-jobs": {"task": "jobs.tasks.fail_stuck_jobs", "schedule": 15 * 60},
    "recover-stuck-jobs": {"task": "jobs.tasks.recover_stuck_jobs", **_RECOVERY},
    "refresh-dlt-candidates": {"task": "adverse_events.tasks.refresh_dlt_candidates", "schedule": 60 * 60},
    "purge-idempotency-keys": {"task": "crf.tasks.purge_idempotency_keys", "schedule": 60 * 60},
    "nightly-verify-audit": {"task": "crf.tasks.verify_audit", "schedule": crontab(hour=2, minute=30)},
    # hourly: each person's daily digest once their own day reaches NOTIFICATION_DIGEST_HOUR (issue 31)
    "notification-digest": {"task": "datamanagement.tasks.daily_digest", "schedule": crontab(minute=5)},
}
#: the local hour from which a person's daily notification digest is built
NOTIFICATION_DIGEST_HOUR = env.int("NOTIFICATION_DIGEST_HOUR", default=7)
#: where the links in notification e-mails point (the worker has no request to ask)
NOTIFICATION_BASE_URL = env.str("NOTIFICATION_BASE_URL", default="http://127.0.0.1:8000")

# --- authentication and sessions -----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "study.password_validation.CharacterClassValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Idle timeout: the session cookie lives SESSION_IDLE_TIMEOUT seconds and is renewed on each
# request. Absolute timeout: SessionExpiryMiddleware ends a session this long after login.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=12 * 60 * 60)
SESSION_EXPIRY_WARNING = env.int("SESSION_EXPIRY_WARNING", default=2 * 60)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = None  # locked until an administrator unlocks
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# --- security -------------------------------------------------------------------------------
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- languages ------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- static ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env.bool("STATIC_MANIFEST", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
#: The checkout's git-ignored local folder (.local/, or TRIALSITE_LOCAL_DIR): the embedded
#: servers' data, and what apps keep there (the synthetic-study dumps of demo/).
LOCAL_DIR = EMBEDDED_LOCAL_DIR
#: where `verify_audit` records the audit chain heads, outside the database (issue 21)
AUDIT_HEADS_DIR = Path(env.str("AUDIT_HEADS_DIR", default="") or LOCAL_DIR / "audit-heads")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or LOCAL_DIR / "media")

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # knox's, reading only the presented token's row (issue 22)
        "study.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "trialsite.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    # JSON too deep or holding NUL characters is a 400, not a 500 (issue 21)
    "DEFAULT_PARSER_CLASSES": [
        "trialsite.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TrialSite EDC API",
    "VERSION": "1",
    "DESCRIPTION": (
        "Token auth: `Authorization: Token <token>` (create one on the API tokens page or POST "
        "/api/v1/auth/login/ with HTTP Basic). Reads answer a strong `ETag`; updates need "
        "`If-Match` (428 without, 412 with the current representation when stale). A form that is "
        "complete changes only with a reason: body field `reason` or header `X-Reason-For-Change`."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    # Every operation's error responses (400/401/403/404/503, and 409/412/415/428 for writes):
    # what the API answers, checked by schemathesis (trialsite/api_schema.py; issue 21).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "trialsite.api_schema.document_errors",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v1",  # operations grouped by resource in the docs
    # Swagger UI from drf-spectacular-sidecar's static files, its init script a separate file
    # (SpectacularSwaggerSplitView), so the CSP stays script-src 'self' (DESIGN §6: no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for choice sets several forms share (partial-date imputation flags).
    "ENUM_NAME_OVERRIDES": {
        "ImputationEnum": "crf.fields.Imputation",
        "DonorEnum": "survival.models.Donor",
        "ResponseEnum": "response.models.ResponseCategory",
        "MrdStatusEnum": "response.models.MrdResult",
        "SubjectStatusEnum": "subjects.lifecycle.Status",
        "CapdResponseEnum": "adverse_events.models.CAPD_RESPONSES",
        "RelationshipEnum": "adverse_events.models.Relationship",
        "RunStatusEnum": "endpoints.models.RunStatus",
        "InstrumentEnum": "adverse_events.models.Instrument",
        "LabUnitEnum": "labs.models.UNIT_CHOICES",
        "JobTriggerEnum": "jobs.models.JobTrigger",
    },
}

# Knox API tokens (DESIGN §6): stored as SHA-512 digests, expiring after API_TOKEN_TTL_DAYS,
# revocable per user (tokens page, study admin's user page, /api/v1/auth/logout*).
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=30)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS),
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKEN_LIMIT_PER_USER", default=10),
}

# --- email and logging ----------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="trialsite@localhost")
# SMTP (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend): safety alerts and invitations.
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "trialsite.middleware.RequestIdLogFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- safety alerts (CLINICAL_SPEC §3: SAE and severe-toxicity alerts, adverse_events.services.alerts)
# Seconds to wait after the n-th failed e-mail attempt (the last value repeats), and the attempts
# after which a delivery is marked failed.
SAFETY_ALERT_RETRY_SECONDS = tuple(env.list("SAFETY_ALERT_RETRY_SECONDS", cast=int, default=[60, 300, 900, 3600]))
SAFETY_ALERT_MAX_ATTEMPTS = env.int("SAFETY_ALERT_MAX_ATTEMPTS", default=5)
