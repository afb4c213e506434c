"""Staff's "test this route" (admin, Route health): one tiny request straight to the route's
upstream through its adapter — no customer, no hold, no charge — and what came back: the
status, the time to an answer, and the error's kind if any (never the upstream's text)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from catalog import selectors
from catalog.models import Route
from gateway.providers import adapter_for
from gateway.schemas import parse_chat, parse_embeddings

PROBE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # "200 in 123 ms", "HTTP 503", "ConnectTimeout", "not testable: video"
    latency_ms: int | None = None


def probe(route: Route) -> ProbeResult:
    info = selectors.route_info(route)
    adapter = adapter_for(info.provider_kind)
    kind = route.model.kind
    try:
        if kind == "chat":
            chat = parse_chat({"model": route.model.slug, "max_tokens": 5,
                               "messages": [{"role": "user", "content": "Say OK."}]})  # fmt: skip
            request = adapter.chat_request(info, chat)
        elif kind == "embedding":
            request = adapter.embeddings_request(
                info, parse_embeddings({"model": route.model.slug, "input": "ok"})
            )
        else:
            return ProbeResult(False, f"not testable: a {kind} request costs money upstream")
    except NotImplementedError:
        return ProbeResult(False, "this provider cannot serve that kind of request")
    started = time.monotonic()
    try:
        answer = requests.post(
            request.url, data=request.body, headers=request.headers,
            timeout=(info.connect_timeout_ms / 1000, PROBE_TIMEOUT_S),
        )  # fmt: skip
    except requests.RequestException as error:
        return ProbeResult(False, type(error).__name__)
    latency = int((time.monotonic() - started) * 1000)
    if answer.status_code != 200:
        return ProbeResult(False, f"HTTP {answer.status_code} in {latency} ms", latency)
    return ProbeResult(True, f"200 in {latency} ms", latency)
