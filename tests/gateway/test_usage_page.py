"""Settings → Usage: the caller's own usage rows only, filtered by key, model, status and
dates, totals by day and model, and a CSV export of the same rows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import keys
from gateway.models import UsageRecord
from tests.conftest import CREDIT


def usage(user, key, *, model="m-chat", days_ago=0, charged=CREDIT, status="ok", n=0):
    return UsageRecord.objects.create(
        request_id=f"req_{user.pk}_{key.pk}_{model}_{days_ago}_{status}_{n}", user=user,
        api_key=key, endpoint="chat.completions", model_slug=model, provider_slug="sim",
        status=status, http_status=200 if status == "ok" else 502, input_tokens=10,
        output_tokens=5, charged_micros=charged if status == "ok" else 0,
        created_at=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip


@pytest.fixture
def history(alice, bob):
    app, _ = keys.create(alice, name="app")
    batch, _ = keys.create(alice, name="batch")
    bobs, _ = keys.create(bob, name="bob-key")
    usage(alice, app, days_ago=0, charged=2 * CREDIT)
    usage(alice, app, days_ago=1, n=1)
    usage(alice, batch, model="m-image", days_ago=2, charged=5 * CREDIT)
    usage(alice, batch, days_ago=3, status="upstream_error")
    usage(alice, app, days_ago=45)  # outside the default 30 days
    usage(bob, bobs, days_ago=0, charged=99 * CREDIT, model="m-secret")
    return app, batch, bobs


def page(user, **params) -> tuple[int, str]:
    browser = Client()
    browser.force_login(user)
    answer = browser.get(reverse("gateway:usage"), params)
    return answer.status_code, answer.content.decode()


def test_the_page_totals_only_the_callers_last_30_days(alice, history):
    status, html = page(alice)
    assert status == 200
    assert "<strong>8</strong> credits over <strong>4</strong> requests" in html
    assert "m-secret" not in html and "bob-key" not in html
    assert html.count('class="bar"') == 30


def test_filters_by_key_model_status_and_dates(alice, history):
    app, batch, _ = history
    assert "<strong>3</strong> credits over <strong>2</strong>" in page(alice, key=app.pk)[1]
    assert "<strong>5</strong> credits over <strong>1</strong>" in page(alice, model="m-image")[1]
    html = page(alice, status="upstream_error")[1]
    assert "<strong>0</strong> credits over <strong>1</strong>" in html and "(502)" in html
    start = (timezone.localdate() - timedelta(days=60)).isoformat()
    assert "<strong>9</strong> credits over <strong>5</strong>" in page(alice, start=start)[1]


def test_someone_elses_key_and_nonsense_dates_are_refused(alice, history):
    _, _, bobs = history
    status, html = page(alice, key=bobs.pk)
    assert status == 400 and "m-secret" not in html
    assert page(alice, start="2026-11-20", end="2026-11-01")[0] == 400
    assert page(alice, start="not-a-date")[0] == 400


def test_the_csv_has_the_same_rows_and_no_one_elses(alice, bob, history):
    browser = Client()
    browser.force_login(alice)
    answer = browser.get(reverse("gateway:usage-csv"))
    assert answer.status_code == 200 and answer["Content-Type"] == "text/csv"
    assert "attachment;" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert len(rows) == 4 and {r["model"] for r in rows} == {"m-chat", "m-image"}
    assert sorted(r["charged_credits"] for r in rows) == ["0", "1", "2", "5"]
    assert rows[0]["time"] < rows[-1]["time"]  # oldest first
    assert "prompt" not in rows[0] and "content" not in rows[0]


def test_the_page_needs_a_login(db):
    assert Client().get(reverse("gateway:usage")).status_code == 302
    assert Client().get(reverse("gateway:usage-csv")).status_code == 302
