"""The aiohttp application: protocol endpoints under every scope, plus the control API.

Protocols: OpenAI chat completions, Responses, embeddings, image generation and edits (whose
images answered as URLs are served from `GET /_sim/images/<id>.png`; edits take
multipart/form-data, read by their module) and videos (asynchronous jobs:
`POST/GET /v1/videos`, `GET/DELETE /v1/videos/{video_id}`, `GET /v1/videos/{video_id}/content`;
path parameters are plain aiohttp route patterns), Anthropic Messages, Gemini generateContent,
ByteDance Ark / BytePlus ModelArk under `/api/v3` (module `ark`: Seedream images, Seedance
video tasks whose videos are served from `GET [/s/<scope>]/_sim/ark/videos/<id>.mp4` without
auth, and an OpenAI-compatible chat), and Google Veo on the Gemini API (module `veo`:
long-running operations, `POST /v1beta/models/{model}:predictLongRunning`, polled at
`GET /v1beta/models/{model}/operations/{operation}`, the video at
`GET /v1beta/files/{file}:download?alt=media`, all wanting `x-goog-api-key`). Adding one
(audio) means writing one module with an `ENDPOINTS` list and adding it to `PROTOCOL_MODULES`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from simulator import (
    anthropic_messages,
    ark,
    gemini,
    openai_chat,
    openai_common,
    openai_embeddings,
    openai_images,
    openai_responses,
    openai_videos,
    veo,
)
from simulator.endpoint import Call, Endpoint, Settings
from simulator.faults import DEFAULT_SCOPE, ErrorInfo, FaultSpecError, SimState, reset_connection

logger = logging.getLogger("simulator")

# Fallback endpoints (catch-alls) are mounted after every specific one, whatever the order here.
PROTOCOL_MODULES: Sequence[ModuleType] = (
    openai_chat,
    openai_responses,
    openai_embeddings,
    openai_images,
    openai_videos,
    anthropic_messages,
    gemini,
    veo,
    ark,
    openai_common,
)

STATE = web.AppKey("state", SimState)
SETTINGS = web.AppKey("settings", Settings)
FAULT_HEADER = "x-sim-fault"


def _make_handler(
    endpoint: Endpoint, state: SimState, settings: Settings
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        scope = request.match_info.get("scope", DEFAULT_SCOPE)
        stats = state.begin(scope, endpoint.key)
        try:
            return await _dispatch(request, endpoint, state, settings, scope)
        finally:
            stats.in_flight -= 1

    return handle


async def _dispatch(
    request: web.Request, endpoint: Endpoint, state: SimState, settings: Settings, scope: str
) -> web.StreamResponse:
    body: Any = None
    bad_json = False
    if endpoint.json_body:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            bad_json = True

    try:
        directive = endpoint.directive(body) if endpoint.directive and body is not None else None
        faults = state.resolve(scope, header=request.headers.get(FAULT_HEADER), directive=directive)
    except FaultSpecError as exc:
        return endpoint.render_error(ErrorInfo(400, f"simulator: bad fault spec: {exc}"))

    # Faults that do not depend on the protocol's response shape, in the order a client
    # would notice them: slow to answer, then no answer, then an error answer.
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.hang_s:
        await asyncio.sleep(faults.hang_s)
    if faults.reset:
        return reset_connection(request)
    if faults.status is not None:
        return endpoint.render_error(
            ErrorInfo(faults.status, code=faults.code, retry_after=faults.retry_after)
        )
    if bad_json:
        return endpoint.render_error(
            ErrorInfo(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            )
        )
    return await endpoint.handler(Call(request, scope, body, faults, settings))


# --- control API ----------------------------------------------------------------------------


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _put_scope(request: web.Request) -> web.Response:
    state = request.app[STATE]
    scope = request.match_info["scope"]
    try:
        spec = await request.json()
    except ValueError:
        return _bad("body must be a JSON object")
    if not isinstance(spec, dict):
        return _bad("body must be a JSON object")
    times = spec.pop("times", None)
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        return _bad("times must be a positive integer")
    try:
        state.configure(scope, spec, times=times)
    except FaultSpecError as exc:
        return _bad(str(exc))
    return web.json_response({"scope": scope, **state.configured_snapshot()[scope]})


async def _delete_scope(request: web.Request) -> web.Response:
    deleted = request.app[STATE].unconfigure(request.match_info["scope"])
    return web.json_response({"deleted": deleted})


async def _list_scopes(request: web.Request) -> web.Response:
    return web.json_response({"scopes": request.app[STATE].configured_snapshot()})


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot())


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    state = SimState()
    app = web.Application(client_max_size=64 * 1024 * 1024)  # prompts with images are large
    app[STATE] = state
    app[SETTINGS] = settings

    router = app.router
    router.add_get("/_sim/health", _health)
    router.add_get("/_sim/stats", _stats)
    router.add_post("/_sim/reset", _reset)
    router.add_get("/_sim/scopes", _list_scopes)
    router.add_put("/_sim/scopes/{scope}", _put_scope)
    router.add_delete("/_sim/scopes/{scope}", _delete_scope)

    endpoints = [e for module in PROTOCOL_MODULES for e in module.ENDPOINTS]
    endpoints.sort(key=lambda e: e.fallback)  # stable: keeps module order otherwise
    for endpoint in endpoints:
        handler = _make_handler(endpoint, state, settings)
        router.add_route(endpoint.method, endpoint.path, handler)
        router.add_route(endpoint.method, "/s/{scope}" + endpoint.path, handler)
    return app


class AccessLogger(AbstractAccessLogger):
    """Method, path, status and latency only: never bodies, headers or query strings (Gemini
    puts the API key in the query)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms", request.method, request.path, response.status, time * 1000
        )
