"""CI must exercise the real services; locally the embedded defaults are fine."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

IN_CI = os.environ.get("CI") == "true"


@pytest.mark.skipif(not IN_CI, reason="CI runs on PostgreSQL and Redis; locally SQLite is fine")
@pytest.mark.django_db
def test_ci_runs_on_postgresql_and_redis():
    assert connection.vendor == "postgresql"
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("ci-probe", "ok", 5)
    assert cache.get("ci-probe") == "ok"
    assert settings.CELERY_BROKER_URL.startswith("redis://")


def test_debug_is_off_unless_asked_for():
    if not os.environ.get("DEBUG"):
        assert settings.DEBUG is False
