"""Webhooks to a customer's `callback_url` when a video job ends, signed as Standard Webhooks
(what OpenAI's webhooks use): headers `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the account's
secret (`whsec_…`, Settings → API keys). The body names the event and the job, never content:
`{"object": "event", "id": "evt_…", "type": "video.completed", "created_at": …,
"data": {"id": "video_…"}}`; the receiver fetches the job with its key.

Addresses are checked when the job is created and again when sending: https only, and never
a private, loopback or link-local address (WEBHOOK_ALLOW_LOOPBACK lets tests and local
development call http://127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
import time
import uuid
from urllib.parse import urlsplit

import orjson
from django.conf import settings

from gateway.errors import ApiError

MAX_URL_LENGTH = 2000
TIMEOUT_S = (3.0, 10.0)


class Unsafe(Exception):
    """The callback address may not be called."""


def check_url(url: str) -> str:
    """A 400 for a callback_url we would refuse to call."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise ApiError(400, "'callback_url' must be a URL.", param="callback_url")
    try:
        _check(url, resolve=False)
    except Unsafe as unsafe:
        raise ApiError(400, f"'callback_url' {unsafe}", param="callback_url") from None
    return url


def _check(url: str, *, resolve: bool) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback_ok = settings.WEBHOOK_ALLOW_LOOPBACK and host in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback_ok):
        raise Unsafe("must be an https:// URL.")
    if not host or parts.username or parts.password:
        raise Unsafe("must name a host (and no credentials).")
    if loopback_ok:
        return
    addresses: list[str] = []
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if resolve:
            try:
                infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
            except OSError:
                raise Unsafe("does not resolve.") from None
            addresses = [info[4][0] for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not ip.is_global or ip.is_multicast:
            raise Unsafe("must be a public address.")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def send(url: str, secret: str, event_type: str, object_id: str) -> bool:
    """POST one event; True when the receiver answered 2xx. Raises Unsafe for an address we
    will not call (no retry helps)."""
    import requests  # the worker's HTTP client; not needed on the request path

    _check(url, resolve=True)
    message_id = "evt_" + uuid.uuid4().hex
    timestamp = int(time.time())
    body = orjson.dumps({"object": "event", "id": message_id, "type": event_type,
                         "created_at": timestamp, "data": {"id": object_id}})  # fmt: skip
    headers = {
        "content-type": "application/json",
        "user-agent": "reAPI-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
    try:
        answer = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_S,
                               allow_redirects=False)  # fmt: skip
    except requests.RequestException:
        return False
    return 200 <= answer.status_code < 300
