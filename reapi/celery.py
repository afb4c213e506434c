"""The Celery app. Broker: Redis when REDIS_URL is set, else kombu's filesystem transport."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reapi.settings")

app = Celery("reapi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
