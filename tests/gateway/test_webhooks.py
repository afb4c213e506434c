"""A video job's callback_url gets a signed Standard Webhooks event when the job ends; the
receiver verifies it with the account's secret from Settings → API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts.models import User
from gateway.models import VideoJob
from tests.gateway.test_videos import run_until_done

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/reapi"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.server.shutdown()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (the Standard Webhooks check), written independently of ours."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(part == f"v1,{expected}" for part in headers["webhook-signature"].split(" "))


def test_a_finished_job_is_announced_signed_with_the_accounts_secret(
    gateway, video_model, receiver
):
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job_ms=100] A lake", seconds="4",
        extra_body={"callback_url": receiver.url},
    )  # fmt: skip
    run_until_done(created.id)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    event = json.loads(body)
    assert (event["type"], event["data"]) == ("video.completed", {"id": created.id})
    secret = User.objects.get(pk=gateway.user.pk).webhook_secret
    assert secret.startswith("whsec_") and verify(secret, headers, body)
    assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
    assert b"A lake" not in body  # metadata only
    assert VideoJob.objects.get(pk=created.id).webhook_state == "delivered"


def test_a_failing_receiver_is_retried_and_a_failed_job_is_announced_too(
    gateway, video_model, receiver
):
    receiver.statuses = [500, 503]
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job=fail] A storm", seconds="4",
        extra_body={"callback_url": receiver.url},
    )  # fmt: skip
    run_until_done(created.id)
    assert len(receiver.received) == 3  # two refusals, then delivered
    assert {json.loads(b)["type"] for _, b in receiver.received} == {"video.failed"}
    job = VideoJob.objects.get(pk=created.id)
    assert (job.webhook_state, job.webhook_attempts) == ("delivered", 3)


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "https://10.0.0.5/hook", "https://169.254.169.254/x",
            "ftp://example.com/", "https://user:pw@example.com/"],
)  # fmt: skip
def test_callback_urls_we_will_not_call_are_refused_up_front(gateway, video_model, url):
    before = gateway.balance()
    answer = requests.post(
        gateway.url + "/v1/videos",
        json={"model": "sim-video", "prompt": "A cat", "callback_url": url},
        headers={"authorization": f"Bearer {gateway.raw_key}"},
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "callback_url"
    assert gateway.balance() == before and not VideoJob.objects.exists()


def test_the_secret_is_shown_and_rotated_in_settings(gateway):
    browser = Client()
    browser.force_login(gateway.user)
    page = browser.get(reverse("accounts:keys")).content.decode()
    assert "Make a secret" in page
    browser.post(reverse("accounts:webhook-secret"))
    first = User.objects.get(pk=gateway.user.pk).webhook_secret
    assert (
        first.startswith("whsec_")
        and first in browser.get(reverse("accounts:keys")).content.decode()
    )
    browser.post(reverse("accounts:webhook-secret"))
    assert User.objects.get(pk=gateway.user.pk).webhook_secret not in {"", first}
