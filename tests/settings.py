"""Test settings: reapi.settings plus what makes the suite fast and hermetic."""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path

from reapi.settings import *  # noqa: F403
from reapi.settings import BASE_DIR, DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Pages under test load their CSS and JS from the source folders (no collectstatic).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
CELERY_TASK_ALWAYS_EAGER = True
WEBHOOK_ALLOW_LOOPBACK = True  # the tests' receivers listen on 127.0.0.1


def _schema_fingerprint() -> str:
    """A hash of every migration we apply, so a reused test database always matches them."""
    digest = hashlib.sha256()
    for package in ("django", "dj-stripe", "django-allauth"):
        digest.update(f"{package}={version(package)}".encode())
    for path in sorted(BASE_DIR.glob("*/migrations/*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


_fingerprint = _schema_fingerprint()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(Path(VAR_DIR) / f"test_{_fingerprint}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_reapi_{_fingerprint}"}
