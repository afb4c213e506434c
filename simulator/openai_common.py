"""Pieces every OpenAI-protocol module shares: the error envelope, `/v1/models`, ids, and a
catch-all 404 for unknown `/v1` URLs."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

from aiohttp import web

from simulator.endpoint import Call, Endpoint
from simulator.faults import ErrorInfo, retry_after_headers, send_partial

MODEL_IDS: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "sim-small")
_MODELS_CREATED = 1_715_367_049

# Unique per process and per request without a syscall per request.
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}{_ID_PREFIX}{next(_ID_COUNTER):010x}"


# status -> (type, code, message), modelled on what api.openai.com answers.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Simulated bad request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key in your account settings.",
    ),
    403: (
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", "conflict", "Conflict."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 1s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
    529: ("server_error", "overloaded", "Overloaded."),
}
_QUOTA = ("insufficient_quota", "insufficient_quota", "You exceeded your current quota.")


def error_body(info: ErrorInfo) -> dict[str, Any]:
    if info.status == 429 and info.code == "insufficient_quota":
        kind, code, message = _QUOTA  # same status as rate limiting, but not retryable
    else:
        default_kind = "invalid_request_error" if info.status < 500 else "server_error"
        kind, code, message = _ERRORS.get(info.status, (default_kind, None, "Simulated error."))
    return {
        "error": {
            "message": info.message or message,
            "type": kind,
            "param": info.param,
            "code": info.code or code,
        }
    }


def render_error(info: ErrorInfo) -> web.Response:
    headers = retry_after_headers(info)
    headers["x-request-id"] = new_id("req_")
    return web.Response(
        status=info.status,
        body=json.dumps(error_body(info)).encode(),
        content_type="application/json",
        headers=headers,
    )


async def json_response(call: Call, payload: dict[str, Any]) -> web.StreamResponse:
    """A JSON 200, or its `malformed` / `cut_after` variant."""
    body = json.dumps(payload).encode()
    headers = {"x-request-id": new_id("req_")}
    faults = call.faults
    if faults.malformed:
        # Cut in the middle: a 200 that no JSON parser accepts.
        return web.Response(
            body=body[: len(body) // 2], content_type="application/json", headers=headers
        )
    if faults.cut_after is not None:
        return await send_partial(call.request, body, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _MODELS_CREATED, "owned_by": "system"}


async def list_models(call: Call) -> web.StreamResponse:
    return await json_response(
        call, {"object": "list", "data": [_model_object(m) for m in MODEL_IDS]}
    )


async def retrieve_model(call: Call) -> web.StreamResponse:
    # Any id exists, like the chat endpoint accepting any model.
    return await json_response(call, _model_object(call.request.match_info["model"]))


async def unknown_url(call: Call) -> web.StreamResponse:
    request = call.request
    return render_error(
        ErrorInfo(404, f"Invalid URL ({request.method} {request.path})", code="unknown_url")
    )


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/v1/models", list_models, render_error),
    Endpoint("GET", "/v1/models/{model:.+}", retrieve_model, render_error),
    Endpoint("*", "/v1/{tail:.*}", unknown_url, render_error, fallback=True),
]
