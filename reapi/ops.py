"""Endpoints for operators and their tools:

- `/healthz`: the process is alive (no dependency is touched).
- `/readyz`: the database, the cache (Redis in production) and the Celery broker answer;
  503 naming what does not (the error's class only: messages may hold addresses).
- `/metrics`: Prometheus exposition (gateway/metrics.py). Not public: with METRICS_TOKEN set
  it wants `Authorization: Bearer <token>`; without, only loopback clients get it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache

from gateway import metrics

LOOPBACK = {"127.0.0.1", "::1"}


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    cache.set("readyz", "1", 10)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache did not keep a value")


def _check_broker() -> None:
    from reapi.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    checks = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}
    report = {}
    for name, check in checks.items():
        try:
            check()
            report[name] = "ok"
        except Exception as error:  # noqa: BLE001 (any failure means not ready)
            report[name] = f"error: {type(error).__name__}"
    ready = all(value == "ok" for value in report.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", **report},
                        status=200 if ready else 503)  # fmt: skip


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not constant_time_compare(given, token):
            return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    elif request.META.get("REMOTE_ADDR") not in LOOPBACK:
        return HttpResponse("Forbidden: set METRICS_TOKEN to scrape from elsewhere.\n",
                            status=403, content_type="text/plain")  # fmt: skip
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
