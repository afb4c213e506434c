"""reAPI settings: one module, every value from the environment with its default inline.

The defaults run on a fresh machine with nothing installed: SQLite, in-process cache,
local-disk media, and a Celery worker on kombu's filesystem broker. DATABASE_URL and
REDIS_URL switch to PostgreSQL and Redis. See .env.example for every variable.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from reapi.env import env_bool, env_int, env_list, env_str, secret_key_from_file

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of the embedded default (SQLite file, media, broker queue, generated secret).
VAR_DIR = Path(env_str("REAPI_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY") or secret_key_from_file(VAR_DIR / "secret_key")
# Keys for the secrets stored encrypted (reapi/encryption.py): comma-separated, the first
# encrypts, all decrypt. Empty: SECRET_KEY. A deployment sets its own (docs/deploy.md).
SECRETS_ENCRYPTION_KEYS = env_list("SECRETS_ENCRYPTION_KEYS", default="")
# `.localhost`: the demo's white-label brand on acme.localhost (browsers resolve it here).
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default="127.0.0.1,localhost,.localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default="")
# The public base URL shown in docs, code samples and emails.
# Empty: pages show the host they were reached at.
SITE_URL = env_str("SITE_URL", "").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "rest_framework",
    "djstripe",
    "accounts",
    "catalog",
    "billing",
    "gateway",
    "content",
    "brands",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "brands.middleware.BrandMiddleware",
]

ROOT_URLCONF = "reapi.urls"
WSGI_APPLICATION = "reapi.wsgi.application"
ASGI_APPLICATION = "reapi.asgi.application"

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
                "reapi.context_processors.site",
                "billing.context_processors.balance",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Persistent connections: a new PostgreSQL connection per request costs ~10 ms.
        conn_max_age=env_int("DB_CONN_MAX_AGE", default=60),
        conn_health_checks=True,
    )
}
# The ledger's two hot statements (billing/pg.py) are prepared on the server. Turn off behind
# a pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_PREPARED_STATEMENTS:
    # Django turns psycopg's prepared statements off unless this is set; its own queries bind
    # on the client and are never prepared, so this reaches only billing/pg.py.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the write lock instead of failing at once when web and worker write together.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "reapi"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------------------
# The host is named only so that kombu does not warn at every start that it is missing.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Every periodic task, in one place.
CELERY_BEAT_SCHEDULE = {
    "release-expired-holds": {"task": "billing.release_expired_holds", "schedule": 60.0},
    "delete-expired-assets": {"task": "gateway.delete_expired_assets", "schedule": 3600.0},
    "advance-video-jobs": {"task": "gateway.advance_video_jobs", "schedule": 2.0},
    "low-balance-alerts": {"task": "billing.send_low_balance_alerts", "schedule": 60.0},
    "announce-price-changes": {"task": "catalog.announce_price_changes", "schedule": 3600.0},
    "delete-expired-idempotency-keys": {
        "task": "gateway.delete_expired_idempotency_keys",
        "schedule": 3600.0,
    },
}
CELERY_TASK_IGNORE_RESULT = True
# Customers are told of a price change at least this many days ahead (catalog.Price.clean).
PRICE_NOTICE_DAYS = env_int("PRICE_NOTICE_DAYS", default=14)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers log through LOGGING below (one JSON object per line, like the web processes),
# not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "reapi"

# --- Auth and accounts --------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Django's and allauth's, each refusing a customer of another site (accounts/backends.py).
    "accounts.backends.BrandModelBackend",
    "accounts.backends.BrandAuthenticationBackend",
]
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "accounts:keys"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# An email is unique per site, not per installation (white-label brands, docs/white-label.md):
# allauth's installation-wide check is off, and our forms and backends check per site
# (accounts/forms.py, accounts/backends.py; the database too, accounts.User's constraints).
ACCOUNT_UNIQUE_EMAIL = False
ACCOUNT_FORMS = {
    "signup": "accounts.forms.SignupForm",
    "add_email": "accounts.forms.AddEmailForm",
    "reset_password": "accounts.forms.ResetPasswordForm",
}
# USERNAME_FIELD (email) is unique per site only; accounts.backends looks it up per site.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
# allauth's defaults limit failed logins per IP and per account; kept, and made explicit.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}

# --- Email --------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "reAPI <no-reply@localhost>")
# Where the contact form's messages go.
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL", "support@localhost")

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env_str(
            "STATICFILES_BACKEND", "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
if env_str("AWS_STORAGE_BUCKET_NAME"):
    # S3-compatible storage (AWS S3, Cloudflare R2, MinIO) for generated assets.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID"),
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY"),
            "querystring_auth": True,
            "querystring_expire": env_int("ASSET_URL_TTL_S", default=3600),
            "signature_version": "s3v4",  # R2 accepts only SigV4 presigned URLs
            "file_overwrite": False,
        },
    }

# --- Django REST framework ----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

# --- Stripe (dj-stripe) -------------------------------------------------------------------
STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env_str("STRIPE_TEST_SECRET_KEY")
STRIPE_LIVE_SECRET_KEY = env_str("STRIPE_LIVE_SECRET_KEY")
# Webhook signing secrets live on dj-stripe's WebhookEndpoint rows (admin), one per endpoint.
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_SUBSCRIBER_MODEL = AUTH_USER_MODEL

# Request bodies above this get 413 (chat requests carry base64 images, hence the headroom).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_BODY_MB", default=20) * 1024 * 1024

# --- reAPI --------------------------------------------------------------------------------
# An address that sends this many unusable keys within a minute gets 429 for BAD_KEY_BLOCK_S
# (gateway/limits.py, counted per web process).
BAD_KEYS_PER_MINUTE = env_int("BAD_KEYS_PER_MINUTE", default=30)
BAD_KEY_BLOCK_S = env_int("BAD_KEY_BLOCK_S", default=300)
# How long a playground page's token works (accounts/keys.py: a signed token, not a key).
PLAYGROUND_TOKEN_TTL_S = env_int("PLAYGROUND_TOKEN_TTL_S", default=1800)
# Seconds an API-key lookup stays cached in a process. Changes (revocation, suspension) clear
# every process's cache within about a second through a shared counter (accounts/keys.py).
API_KEY_CACHE_S = env_int("API_KEY_CACHE_S", default=5)
# A hold left open by a crashed process is settled or released by the reconciler after this.
HOLD_TTL_S = env_int("HOLD_TTL_S", default=900)
# Circuit breakers: this many failures of a route within the window open it for the cooldown.
BREAKER_FAILURES = env_int("BREAKER_FAILURES", default=5)
BREAKER_WINDOW_S = env_int("BREAKER_WINDOW_S", default=30)
BREAKER_COOLDOWN_S = env_int("BREAKER_COOLDOWN_S", default=30)
# API rate limits of an account when staff set none on it (User.rpm_limit, ...); keys may
# set tighter ones of their own. Enforced in Redis when REDIS_URL is set (shared by every
# process), in process memory otherwise (gateway/limits.py).
RATE_LIMIT_ACCOUNT_RPM = env_int("RATE_LIMIT_ACCOUNT_RPM", default=1_000)
RATE_LIMIT_ACCOUNT_TPM = env_int("RATE_LIMIT_ACCOUNT_TPM", default=2_000_000)
RATE_LIMIT_ACCOUNT_CONCURRENCY = env_int("RATE_LIMIT_ACCOUNT_CONCURRENCY", default=100)
# An account whose requests are refused (4xx) more than this many times in a minute is
# blocked for BLOCK_S seconds (429 temporarily_blocked); staff can lift it in admin.
BLOCK_FAILURES_PER_MINUTE = env_int("BLOCK_FAILURES_PER_MINUTE", default=600)
BLOCK_S = env_int("BLOCK_S", default=300)
# Generated images and videos are kept this long, then deleted (410 afterwards); links to
# them are signed and expire after ASSET_LINK_TTL_S.
ASSET_RETENTION_DAYS = env_int("ASSET_RETENTION_DAYS", default=7)
ASSET_LINK_TTL_S = env_int("ASSET_LINK_TTL_S", default=3600)
# A request repeated with the same Idempotency-Key within this window is charged once.
IDEMPOTENCY_TTL_S = env_int("IDEMPOTENCY_TTL_S", default=24 * 3600)
# Webhooks may call http://127.0.0.1 (local development and tests); never in production.
WEBHOOK_ALLOW_LOOPBACK = env_bool("WEBHOOK_ALLOW_LOOPBACK", default=DEBUG)
# A video job not finished this long after it was submitted fails and is refunded.
VIDEO_JOB_TIMEOUT_S = env_int("VIDEO_JOB_TIMEOUT_S", default=30 * 60)
# A worker's claim on a job; a job whose worker died is polled again after this.
VIDEO_POLL_LEASE_S = env_int("VIDEO_POLL_LEASE_S", default=120)
# Where the bundled upstream simulator listens (the demo catalog routes to it).
SIMULATOR_URL = env_str("SIMULATOR_URL", "http://127.0.0.1:8090").rstrip("/")

# --- Security -----------------------------------------------------------------------------
# PRODUCTION=true turns on what a public HTTPS deployment needs (`check --deploy` is clean
# with it); each setting can still be set on its own. Off for `make run` on plain HTTP.
PRODUCTION = env_bool("PRODUCTION", default=False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
# The header only makes the site eligible; joining the preload list is a separate request.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("BEHIND_TLS_PROXY", default=PRODUCTION)
    else None
)
X_FRAME_OPTIONS = "DENY"

# --- Logging ------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# /metrics wants `Authorization: Bearer <METRICS_TOKEN>`; unset, only loopback may scrape.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# LOG_FORMAT=json (default): one JSON object per line (reapi/logs.py); plain for reading.
LOG_FORMAT = env_str("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "reapi.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": LOG_LEVEL, "propagate": True},
        # A line per task sent, received and finished: beat sweeps video jobs every 2 s,
        # which alone made three lines every 2 s. Failures are still logged (ERROR).
        **{
            name: {"level": env_str("CELERY_TASK_LOG_LEVEL", "WARNING")}
            for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
        },
    },
}
