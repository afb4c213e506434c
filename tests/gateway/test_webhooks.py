"""A video job's callback_url gets a signed Standard Webhooks event when the job ends; the
receiver verifies it with the account's secret from Settings → API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts.models import User
from gateway import webhooks
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


SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def fake_dns(monkeypatch, name: str, answers: list[str]) -> list[str]:
    """Answer `name` with the next of `answers` (the last one again after that); other names
    as usual. Returns the log of lookups of `name`."""
    real, asked = socket.getaddrinfo, []

    def resolve(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = answers[min(len(asked), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return asked


def test_a_webhook_goes_to_the_address_that_was_checked_not_a_later_dns_answer(
    receiver, monkeypatch
):
    # DNS rebinding: the first answer passes the check, a second would point elsewhere (a
    # loopback address nothing listens on). The name is resolved once and that address used.
    asked = fake_dns(monkeypatch, "localhost", ["127.0.0.1", "127.0.0.3"])
    url = receiver.url.replace("127.0.0.1", "localhost")
    assert webhooks.send(url, SECRET, "video.completed", "video_1")
    assert len(asked) == 1 and len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert headers["host"] == f"localhost:{receiver.server.server_port}"
    assert verify(SECRET, headers, body) and json.loads(body)["data"] == {"id": "video_1"}


def test_a_name_that_resolves_to_a_private_address_is_never_called(monkeypatch, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    asked = fake_dns(monkeypatch, "hooks.customer.example", ["10.0.0.5"])
    webhooks.check_url("https://hooks.customer.example/x")  # fine before it is resolved
    with pytest.raises(webhooks.Unsafe):
        webhooks.send("https://hooks.customer.example/x", SECRET, "video.completed", "video_1")
    assert asked == ["hooks.customer.example"]
