"""Operations endpoints: /healthz, /readyz naming what is down, /metrics (Prometheus, not
public, no content in any label) and the JSON access log."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from reapi.logs import JsonFormatter
from simulator.testing import closed_port

CANARY = "canary-7f3a9-do-not-store"


def test_healthz_and_readyz_say_ok(db):
    assert Client().get("/healthz").json() == {"status": "ok"}
    ready = Client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}


def test_readyz_names_what_is_down_without_its_address(db, settings):
    port = closed_port()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{port}/0"}}  # fmt: skip
    answer = Client().get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["database"] == "ok"
    assert body["cache"].startswith("error: ") and str(port) not in json.dumps(body)


def test_metrics_are_for_loopback_or_the_token_holder(db, settings):
    assert Client().get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "scrape-secret"
    assert Client().get("/metrics").status_code == 401
    ok = Client(REMOTE_ADDR="203.0.113.9").get(
        "/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret"
    )
    assert ok.status_code == 200 and b"reapi_open_holds" in ok.content


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_requests_are_counted_by_model_provider_and_status_and_logged_as_json(gateway, caplog):
    before = Client().get("/metrics").content.decode()
    with caplog.at_level(logging.INFO, logger="reapi.access"):
        gateway.client().chat.completions.create(
            model="sim-chat", messages=[{"role": "user", "content": f"Hello {CANARY}"}]
        )
    text = Client().get("/metrics").content.decode()
    labels = {"endpoint": "chat.completions", "model": "sim-chat", "provider": "sim-a",
              "status": "ok"}  # fmt: skip
    assert _value(text, "reapi_requests_total", **labels) == (
        _value(before, "reapi_requests_total", **labels) + 1
    )
    assert _value(text, "reapi_http_responses_total", route="/v1/chat/completions", code="200") > 0
    assert _value(text, "reapi_credits_charged_micros_total", model="sim-chat") > 0
    assert "reapi_request_duration_seconds_bucket" in text
    assert 'reapi_route_breaker_open{model="sim-chat",provider="sim-a"} 0.0' in text
    assert CANARY not in text
    [record] = [r for r in caplog.records if r.name == "reapi.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["model"] == "sim-chat" and line["status"] == "ok" and line["request_id"]
    assert line["account_id"] == gateway.user.pk and line["charged_micros"] > 0
    assert CANARY not in json.dumps(line)


@pytest.mark.parametrize("extra", [{"request_id": "req_1", "model": "m"}, {}])
def test_the_json_formatter_keeps_extras_and_exceptions(extra):
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", ("now",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    try:
        raise ValueError("inner")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "boom now" and line["level"] == "ERROR"
    assert "ValueError: inner" in line["exception"]
    for key, value in extra.items():
        assert line[key] == value
