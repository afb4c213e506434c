"""The /v1 API as a small ASGI application mounted beside Django (reapi/asgi.py).

Django's request machinery costs about a millisecond per request on this path (a thread per
request for its sync signal handlers, middleware, URL resolving, HttpResponse); an API call
needs none of it. The handlers in gateway/views.py use the same models, ledger and rules as
everything else; only the HTTP plumbing is ours: read the body (with a size cap), route by
method and path, send the response or stream, and cancel the handler if the client goes
away, which is how a disconnect reaches the stream relay and the upstream request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from django.conf import settings

from gateway import limits, metrics

logger = logging.getLogger(__name__)

JSON = b"application/json"


@dataclass
class ApiRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # from `{name}` path segments
    query: dict[str, str] = field(default_factory=dict)  # the first value of each


def _parse_query(raw: bytes) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)[:50]:
        query.setdefault(name, value)
    return query


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: bytes = JSON


@dataclass
class StreamResponse:
    status: int
    chunks: AsyncIterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    content_type: bytes = b"text/event-stream; charset=utf-8"


Handler = Callable[[ApiRequest], Awaitable[Response | StreamResponse]]


def json_response(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None):
    body = orjson.dumps(payload)
    return Response(status, body, headers or {})


def _error(status: int, message: str, code: str, *, type_: str = "invalid_request_error"):
    payload = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return json_response(payload, status=status)


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


def _client_address(scope: dict) -> str:
    """The client's address: behind our TLS proxy (BEHIND_TLS_PROXY), the last hop it added to
    X-Forwarded-For; else the peer of the connection."""
    if settings.SECURE_PROXY_SSL_HEADER:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                return value.decode("latin-1").rsplit(",", 1)[-1].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _read_body(receive: Callable[[], Awaitable[dict]], limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_response(send, response: Response | StreamResponse) -> None:
    headers = [(b"content-type", response.content_type)]
    headers += [(k.encode(), v.encode()) for k, v in response.headers.items()]
    if isinstance(response, Response):
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    async for chunk in response.chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


class GatewayApp:
    """Routes are exact paths, or patterns with `{name}` segments (one path segment each)."""

    def __init__(self, routes: dict[str, dict[str, Handler]]) -> None:
        self.routes = {p: m for p, m in routes.items() if "{" not in p}
        self.patterns = [(p.split("/"), m) for p, m in routes.items() if "{" in p]
        self.max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def _match(self, path: str) -> tuple[str, dict[str, Handler] | None, dict[str, str]]:
        """(route template, its handlers by method, path parameters)."""
        methods = self.routes.get(path)
        if methods is not None:
            return path, methods, {}
        parts = path.split("/")
        for pattern, methods in self.patterns:
            if len(pattern) != len(parts):
                continue
            params = {}
            for want, got in zip(pattern, parts, strict=True):
                if want.startswith("{"):
                    if not got or len(got) > 200:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return "/".join(pattern), methods, params
        return "unknown", None, {}

    async def __call__(self, scope: dict, receive, send) -> None:
        route, methods, params = self._match(scope["path"].rstrip("/") or scope["path"])
        address = _client_address(scope)
        if limits.bad_keys.is_blocked(address):
            response = _error(429, "Too many requests with invalid API keys from your address. "
                              f"Try again in {settings.BAD_KEY_BLOCK_S // 60} minutes.",
                              "too_many_invalid_keys", type_="rate_limit_error")  # fmt: skip
            response.headers["retry-after"] = str(settings.BAD_KEY_BLOCK_S)
            await _send_response(send, response)
            metrics.RESPONSES.labels(route, "429").inc()
            return
        status = 0

        async def counted(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._dispatch(scope, receive, counted, methods, params)
        finally:
            metrics.RESPONSES.labels(route, str(status or 499)).inc()
            if status == 401:
                limits.bad_keys.note(address)

    async def _dispatch(self, scope: dict, receive, send, methods, params) -> None:
        method, path = scope["method"], scope["path"]
        if methods is None:
            await _send_response(send, _error(404, f"Invalid URL ({method} {path})", "unknown_url"))
            return
        handler = methods.get(method)
        if handler is None:
            allowed = ", ".join(methods)
            response = _error(405, f"Use {allowed} on {path}.", "method_not_allowed")
            response.headers["allow"] = allowed
            await _send_response(send, response)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await _read_body(receive, self.max_body)
        except ClientGone:
            return
        except BodyTooLarge:
            mb = self.max_body // (1024 * 1024)
            message = f"The request body is larger than {mb} MB."
            await _send_response(send, _error(413, message, "request_too_large"))
            return
        request = ApiRequest(
            method, path, headers, body, params, _parse_query(scope.get("query_string", b""))
        )
        # Serve, and cancel the handler (or the stream) the moment the client disconnects.
        serving = asyncio.ensure_future(self._serve(handler, request, send))
        watching = asyncio.ensure_future(_wait_for_disconnect(receive))
        done, _ = await asyncio.wait({serving, watching}, return_when=asyncio.FIRST_COMPLETED)
        if serving in done:
            watching.cancel()
            serving.result()
            return
        serving.cancel()
        try:
            await serving
        except asyncio.CancelledError:
            pass

    async def _serve(self, handler: Handler, request: ApiRequest, send) -> None:
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("unhandled error in the API", extra={"path": request.path})
            message = "The server had an error processing your request."
            response = _error(500, message, "server_error", type_="server_error")
        await _send_response(send, response)


async def _wait_for_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
