"""Idempotency-Key on billable POSTs: a retry is charged once; a reused key with another body
is a 409; results that are ours to keep (video jobs, stored images) come back again, content
is never stored."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from gateway.models import IdempotencyKey, UsageRecord, VideoJob
from tests.gateway.conftest import PER_SECOND_720P

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
HELLO = [{"role": "user", "content": "Hi"}]


def post(gateway, path, body, key, **headers):
    return requests.post(
        gateway.url + path, json=body, timeout=10,
        headers={"authorization": f"Bearer {gateway.raw_key}", "idempotency-key": key, **headers},
    )  # fmt: skip


def test_a_retried_video_request_creates_one_job_and_one_hold(gateway, video_model):
    body = {"model": "sim-video", "prompt": "A kite", "seconds": "4", "size": "1280x720"}
    before = gateway.balance()
    first = post(gateway, "/v1/videos", body, "kite-1")
    again = post(gateway, "/v1/videos", body, "kite-1")
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert VideoJob.objects.count() == 1
    assert gateway.balance() == before - 4 * PER_SECOND_720P


def test_the_same_key_with_another_body_is_a_409_and_runs_nothing(gateway, video_model):
    post(gateway, "/v1/videos", {"model": "sim-video", "prompt": "A kite"}, "k")
    before = gateway.balance()
    other = post(gateway, "/v1/videos", {"model": "sim-video", "prompt": "A boat"}, "k")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert VideoJob.objects.count() == 1 and gateway.balance() == before


def test_a_retried_chat_completion_is_not_run_or_charged_again(gateway):
    body = {"model": "sim-chat", "messages": HELLO, "max_tokens": 5}
    first = post(gateway, "/v1/chat/completions", body, "chat-1")
    assert first.status_code == 200
    balance = gateway.balance()
    again = post(gateway, "/v1/chat/completions", body, "chat-1")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "idempotency_key_used"
    assert first.headers["x-request-id"] in error["message"]
    assert gateway.balance() == balance and UsageRecord.objects.count() == 1
    assert gateway.sim.request_count("a") == 1
    # Nothing of the answer was kept.
    row = IdempotencyKey.objects.get()
    assert (row.state, row.result) == ("done", "")


def test_a_request_charged_nothing_frees_its_key_for_a_retry(gateway):
    gateway.sim.set_fault("a", status=503)
    gateway.sim.set_fault("b", status=503)
    body = {"model": "sim-chat", "messages": HELLO, "max_tokens": 5}
    assert post(gateway, "/v1/chat/completions", body, "retry-me").status_code == 502
    gateway.sim.clear_fault("a")
    gateway.sim.clear_fault("b")
    assert post(gateway, "/v1/chat/completions", body, "retry-me").status_code == 200


def test_a_retry_while_the_first_still_runs_is_told_to_wait(gateway):
    gateway.sim.set_fault("a", latency_ms=800)
    body = {"model": "sim-chat", "messages": HELLO, "max_tokens": 5}
    first: list[requests.Response] = []
    thread = threading.Thread(
        target=lambda: first.append(post(gateway, "/v1/chat/completions", body, "slow"))
    )
    thread.start()
    time.sleep(0.3)
    busy = post(gateway, "/v1/chat/completions", body, "slow")
    thread.join()
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_progress"
    assert first[0].status_code == 200 and UsageRecord.objects.count() == 1


def test_stored_images_come_back_with_fresh_links_on_a_retry(gateway, image_model):
    body = {"model": "sim-image", "prompt": "A hat", "response_format": "url"}
    first = post(gateway, "/v1/images/generations", body, "hat")
    balance = gateway.balance()
    again = post(gateway, "/v1/images/generations", body, "hat")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert [u["url"].split("?")[0] for u in again.json()["data"]] == [
        u["url"].split("?")[0] for u in first.json()["data"]
    ]
    assert requests.get(again.json()["data"][0]["url"], timeout=5).status_code == 200
    assert gateway.balance() == balance


def test_anthropic_clients_get_the_409_in_their_shape(gateway):
    body = {"model": "sim-chat", "max_tokens": 5, "messages": HELLO}
    headers = {"anthropic-version": "2023-06-01"}
    assert post(gateway, "/v1/messages", body, "m-1", **headers).status_code == 200
    again = post(gateway, "/v1/messages", body, "m-1", **headers)
    assert again.status_code == 409 and again.json()["type"] == "error"


def test_a_bad_idempotency_key_is_a_400(gateway):
    body = {"model": "sim-chat", "messages": HELLO}
    answer = post(gateway, "/v1/chat/completions", body, "x" * 300)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_idempotency_key"
