"""Dispatch to upstream routes with failover (DESIGN.md, the request path, step 5).

Routes are tried in priority order, weighted-random among equal priorities. A connect
error, a timeout, 408/409/429, any 5xx (529 included), an upstream 401/403/404 (our route is
misconfigured, not the client's request) or an unreadable 200 moves to the next route at
once. Other 4xx answers are the client's problem and go back to it without trying further.
A stream is committed to a route once its first event has arrived; until then it can fail
over like any request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from catalog.selectors import RouteInfo
from gateway import health, http
from gateway.errors import ApiError
from gateway.providers import adapter_for
from gateway.providers.base import (
    Adapter,
    ChatResult,
    UpstreamProtocolError,
    UpstreamRequest,
    error_message,
)
from gateway.schemas import ChatRequest, EmbeddingsRequest, ImageRequest, VideoRequest

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = {401, 403, 404, 408, 409, 425, 429}
CLIENT_STATUSES_PASSED_THROUGH = {400, 413, 415, 422}
MAX_ERROR_BODY = 64 * 1024
# What a broken upstream looks like once it has answered 200.
UPSTREAM_FAILURES = (aiohttp.ClientError, TimeoutError, UpstreamProtocolError)


def ordered_routes(routes: tuple[RouteInfo, ...]) -> list[RouteInfo]:
    """Priority first; within a priority, a weighted shuffle so traffic is shared, each
    weight scaled by the route's measured speed (health.latency_factor). Routes whose
    circuit breaker is open go last: tried only if every healthy route fails."""
    by_priority: dict[int, list[RouteInfo]] = {}
    for route in routes:
        by_priority.setdefault(route.priority, []).append(route)
    ordered: list[RouteInfo] = []
    for priority in sorted(by_priority):
        group = by_priority[priority]
        if len(group) > 1:
            speed = health.latency_factor([r.id for r in group])
            # Efraimidis–Spirakis: sort by u^(1/w), a weighted random order in one pass.
            group = sorted(
                group,
                key=lambda r: random.random() ** (1 / (max(r.weight, 1) * speed[r.id])),  # noqa: S311
                reverse=True,
            )
        ordered.extend(group)
    if len(ordered) > 1:
        ordered.sort(key=lambda r: health.is_open(r.id))  # stable: keeps the order above
    return ordered


@dataclass
class Attempts:
    """What happened on the way, for the usage row and the logs (metadata only)."""

    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failovers(self) -> int:
        return len(self.failures)

    def failed(self, route: RouteInfo, reason: str, *, counts: bool = True) -> None:
        """Record a failed attempt; `counts` toward the route's circuit breaker unless the
        route was never really tried (no adapter, an operation the provider lacks)."""
        self.failures.append((route.provider_slug, reason))
        if counts and health.record_failure(route.id):
            logger.warning(
                "circuit breaker opened",
                extra={"provider": route.provider_slug, "route_id": route.id},
            )
        logger.warning(
            "upstream attempt failed",
            extra={"provider": route.provider_slug, "route_id": route.id, "reason": reason},
        )


class AllRoutesFailed(Exception):
    def __init__(self, attempts: Attempts) -> None:
        super().__init__("every route failed")
        self.attempts = attempts

    def as_api_error(self) -> ApiError:
        return ApiError(
            502,
            "The upstream providers for this model failed to answer. Nothing was charged; "
            "please retry.",
            type="api_error",
            code="upstream_error",
        )


class UpstreamRejected(Exception):
    """A non-retryable answer (the request itself is invalid): passed to the client."""

    def __init__(self, route: RouteInfo, status: int, message: str, attempts: Attempts) -> None:
        super().__init__(message)
        self.route = route
        self.status = status
        self.message = message
        self.attempts = attempts

    def as_api_error(self) -> ApiError:
        return ApiError(self.status, self.message, code="upstream_rejected")


def _timeout(route: RouteInfo, *, stream: bool) -> aiohttp.ClientTimeout:
    read_ms = route.first_byte_timeout_ms if stream else route.read_timeout_ms
    return aiohttp.ClientTimeout(
        total=None, sock_connect=route.connect_timeout_ms / 1000, sock_read=read_ms / 1000
    )


async def _error_message(response: aiohttp.ClientResponse) -> str:
    raw = await response.content.read(MAX_ERROR_BODY)
    try:
        message = error_message(orjson.loads(raw))
    except ValueError:
        message = None
    return message or f"The upstream rejected the request (HTTP {response.status})."


def _classify(status: int) -> str:
    if status in CLIENT_STATUSES_PASSED_THROUGH:
        return "client"
    if status in RETRYABLE_STATUSES or status >= 500:
        return "retry"
    return "client"


@dataclass(frozen=True)
class Operation:
    """What to ask every route: how an adapter builds the request and reads the answer."""

    build: Callable[[Adapter, RouteInfo], UpstreamRequest]
    parse: Callable[[Adapter, RouteInfo, Any], ChatResult]


def chat_operation(chat: ChatRequest) -> Operation:
    return Operation(
        build=lambda adapter, route: adapter.chat_request(route, chat),
        parse=lambda adapter, route, payload: adapter.chat_result(payload, chat),
    )


def images_operation(request: ImageRequest) -> Operation:
    return Operation(
        build=lambda adapter, route: adapter.images_request(route, request),
        parse=lambda adapter, route, payload: adapter.images_result(payload, request),
    )


def video_create_operation(video: VideoRequest) -> Operation:
    return Operation(
        build=lambda adapter, route: adapter.video_create_request(route, video),
        parse=lambda adapter, route, payload: adapter.video_create_result(route, payload, video),
    )


def embeddings_operation(request: EmbeddingsRequest) -> Operation:
    return Operation(
        build=lambda adapter, route: adapter.embeddings_request(route, request),
        parse=lambda adapter, route, payload: adapter.embeddings_result(payload, request),
    )


async def _send(
    route: RouteInfo, operation: Operation, attempts: Attempts, *, stream: bool
) -> tuple[Adapter, aiohttp.ClientResponse] | None:
    """Send the request to one route. Returns the adapter and a 200 response, or None after
    recording a retryable failure; raises UpstreamRejected for a non-retryable answer."""
    adapter = adapter_for(route.provider_kind)
    if adapter is None:
        attempts.failed(route, "no adapter", counts=False)
        return None
    try:
        request = operation.build(adapter, route)
    except NotImplementedError:
        attempts.failed(route, "not supported by this provider", counts=False)
        return None
    try:
        response = await http.session().post(
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=_timeout(route, stream=stream),
            allow_redirects=False,
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        attempts.failed(route, type(exc).__name__)
        return None
    if response.status == 200:
        return adapter, response
    try:
        if _classify(response.status) == "client":
            message = await _error_message(response)
            raise UpstreamRejected(route, response.status, message, attempts)
        attempts.failed(route, f"http {response.status}")
        return None
    finally:
        response.close()


@dataclass
class Completed:
    route: RouteInfo
    result: ChatResult
    attempts: Attempts
    ttfb_ms: int


async def complete(operation: Operation, routes: tuple[RouteInfo, ...]) -> Completed:
    """A non-stream answer with failover."""
    attempts = Attempts()
    for route in ordered_routes(routes):
        started = time.monotonic()
        sent = await _send(route, operation, attempts, stream=False)
        if sent is None:
            continue
        adapter, response = sent
        try:
            raw = await response.read()
            result = operation.parse(adapter, route, orjson.loads(raw))
        except (*UPSTREAM_FAILURES, ValueError) as exc:
            attempts.failed(route, type(exc).__name__)
            continue
        finally:
            response.release()
        ttfb_ms = int((time.monotonic() - started) * 1000)
        health.record_success(route.id)
        health.record_latency(route.id, ttfb_ms)
        return Completed(route=route, result=result, attempts=attempts, ttfb_ms=ttfb_ms)
    raise AllRoutesFailed(attempts)


@dataclass
class OpenStream:
    """A stream committed to one route: its first event is in hand."""

    route: RouteInfo
    first: dict[str, Any]
    rest: AsyncIterator[dict[str, Any]]
    response: aiohttp.ClientResponse
    attempts: Attempts
    ttfb_ms: int

    def close(self) -> None:
        # Closing (not releasing) drops the connection, which cancels the upstream request.
        self.response.close()


async def open_stream(chat: ChatRequest, routes: tuple[RouteInfo, ...]) -> OpenStream:
    """Start a stream with failover until the first event has arrived."""
    attempts = Attempts()
    for route in ordered_routes(routes):
        started = time.monotonic()
        sent = await _send(route, chat_operation(chat), attempts, stream=True)
        if sent is None:
            continue
        adapter, response = sent
        try:
            events = adapter.chat_events(response, chat)
            first = await anext(events)
        except (
            aiohttp.ClientError,
            TimeoutError,
            UpstreamProtocolError,
            StopAsyncIteration,
        ) as exc:
            attempts.failed(route, type(exc).__name__)
            response.close()
            continue
        except asyncio.CancelledError:
            response.close()
            raise
        ttfb_ms = int((time.monotonic() - started) * 1000)
        health.record_success(route.id)
        health.record_latency(route.id, ttfb_ms)
        return OpenStream(route, first, events, response, attempts, ttfb_ms)
    raise AllRoutesFailed(attempts)
