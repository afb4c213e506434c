"""Webhooks to a customer's `callback_url` when a video job ends, signed as Standard Webhooks
(what OpenAI's webhooks use): headers `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the account's
secret (`whsec_…`, Settings → API keys). The body names the event and the job, never content:
`{"object": "event", "id": "evt_…", "type": "video.completed", "created_at": …,
"data": {"id": "video_…"}}`; the receiver fetches the job with its key.

Addresses are checked when the job is created and again when sending: https only, and never
a private, loopback or link-local address (WEBHOOK_ALLOW_LOOPBACK lets tests and local
development call http://127.0.0.1 or http://localhost). The name is resolved once, when
sending, and the connection goes to the address that was checked (TLS still verifies the
name), so a DNS answer that changes between the check and the connect (DNS rebinding)
cannot point a webhook at our own network."""

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
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 3.0, 10.0
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


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


def _check(url: str, *, resolve: bool) -> list[str]:
    """Refuse what we will not call; with `resolve`, the checked addresses to connect to."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    relaxed = settings.WEBHOOK_ALLOW_LOOPBACK and host in LOOPBACK_NAMES
    if parts.scheme != "https" and not (parts.scheme == "http" and relaxed):
        raise Unsafe("must be an https:// URL.")
    if not host or parts.username or parts.password:
        raise Unsafe("must name a host (and no credentials).")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return []
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise Unsafe("does not resolve.") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for ip in addresses:
        if relaxed and ip.is_loopback:
            continue
        if not ip.is_global or ip.is_multicast:
            raise Unsafe("must be a public address.")
    return [str(ip) for ip in addresses]


def _post_to(url: str, address: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to the checked address, naming the URL's host in Host and in TLS (SNI and the
    certificate check); the status, without following redirects."""
    import certifi
    import urllib3  # the worker's HTTP client; not needed on the request path

    parts = urlsplit(url)
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, parts.port or 443, timeout=timeout, retries=False,
            server_hostname=parts.hostname, assert_hostname=parts.hostname,
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(address, parts.port or 80, timeout=timeout,
                                          retries=False)  # fmt: skip
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with pool:
        answer = pool.urlopen("POST", path, body=body, headers={**headers, "host": parts.netloc},
                              redirect=False, preload_content=False)  # fmt: skip
        answer.drain_conn()
        return answer.status


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def send(url: str, secret: str, event_type: str, object_id: str) -> bool:
    """POST one event; True when the receiver answered 2xx. Raises Unsafe for an address we
    will not call (no retry helps)."""
    import urllib3

    address = _check(url, resolve=True)[0]
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
        status = _post_to(url, address, body, headers)
    except urllib3.exceptions.HTTPError:
        return False
    return 200 <= status < 300
