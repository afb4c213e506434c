"""The OpenAPI 3.1 description of /v1, served at /api/schema/ and shown at /docs/api/.

/v1 is a small ASGI app, not DRF views, so drf-spectacular cannot see it; the document is
built here from the same tables the request path uses: every route of `views.ROUTES` is
described (a test checks none is missing) and each request body lists exactly the fields its
parser accepts (`schemas.CHAT_FIELDS`, ...), so the document cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

from gateway import schemas
from gateway.codecs.anthropic import MESSAGES_FIELDS

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
OBJECT = {"type": "object"}
ARRAY = {"type": "array", "items": {}}

# What we know of a field's type; a field not listed is passed on as its protocol defines it.
FIELD_TYPES: dict[str, dict[str, Any]] = {
    "model": {**STRING, "description": "A model id from GET /v1/models."},
    "messages": {**ARRAY, "description": "The conversation, in the protocol's message shape."},
    "stream": {**BOOLEAN, "description": "Server-sent events instead of one JSON answer."},
    "stream_options": OBJECT,
    "max_tokens": {**INTEGER, "minimum": 1},
    "max_completion_tokens": {**INTEGER, "minimum": 1},
    "max_output_tokens": {**INTEGER, "minimum": 1},
    "temperature": {**NUMBER, "minimum": 0, "maximum": 2},
    "top_p": {**NUMBER, "minimum": 0, "maximum": 1},
    "top_k": {**INTEGER, "minimum": 0},
    "n": {**INTEGER, "minimum": 1},
    "stop": {"oneOf": [STRING, {"type": "array", "items": STRING}]},
    "stop_sequences": {"type": "array", "items": STRING},
    "tools": ARRAY,
    "tool_choice": {"oneOf": [STRING, OBJECT]},
    "response_format": OBJECT,
    "seed": INTEGER,
    "user": STRING,
    "metadata": OBJECT,
    "input": {"oneOf": [STRING, ARRAY]},
    "instructions": STRING,
    "system": {"oneOf": [STRING, ARRAY]},
    "prompt": {**STRING, "description": "What to make."},
    "size": {**STRING, "description": "WIDTHxHEIGHT, e.g. 1024x1024 or 1280x720."},
    "quality": STRING,
    "response_format_image": {"enum": ["url", "b64_json"]},
    "seconds": {"oneOf": [STRING, INTEGER], "description": "Length of the video."},
    "callback_url": {**STRING, "format": "uri", "description": "https URL told when it ends."},
    "encoding_format": {"enum": ["float", "base64"]},
    "dimensions": {**INTEGER, "minimum": 1},
}

REQUIRED = {
    "chat": ["model", "messages"],
    "embeddings": ["model", "input"],
    "images": ["model", "prompt"],
    "videos": ["model"],
    "messages": ["model", "messages", "max_tokens"],
    "responses": ["model"],
    "count_tokens": ["model", "messages"],
}


def _body(fields: frozenset[str], kind: str, *, image: bool = False) -> dict[str, Any]:
    properties = {}
    for name in sorted(fields):
        schema = FIELD_TYPES.get(name, {})
        if image and name == "response_format":
            schema = FIELD_TYPES["response_format_image"]
        properties[name] = schema
    return {"type": "object", "properties": properties, "required": REQUIRED[kind],
            "additionalProperties": False}  # fmt: skip


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


ERRORS = {
    "400": {"description": "Invalid request; nothing was charged.", **_json(_ref("Error"))},
    "401": {"description": "Missing, wrong or revoked key.", **_json(_ref("Error"))},
    "402": {"description": "Not enough credits for the worst case.", **_json(_ref("Error"))},
    "403": {"description": "Key or account not allowed.", **_json(_ref("Error"))},
    "404": {"description": "Unknown model or object.", **_json(_ref("Error"))},
    "429": {"description": "Rate limit; see Retry-After.", **_json(_ref("Error"))},
    "502": {"description": "No upstream could answer; refunded.", **_json(_ref("Error"))},
}


def _operation(
    summary: str,
    description: str,
    *,
    tag: str,
    body: dict | None = None,
    ok: dict[str, Any] | None = None,
    anthropic: bool = False,
    params: list | None = None,
    multipart: dict | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "tags": [tag],
        "responses": {"200": {"description": "OK", **_json(ok or OBJECT)}, **ERRORS},
    }
    if anthropic:
        for code in ERRORS:
            operation["responses"][code] = {**ERRORS[code], **_json(_ref("AnthropicError"))}
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
        if multipart is not None:
            operation["requestBody"]["content"]["multipart/form-data"] = {"schema": multipart}
    if params:
        operation["parameters"] = params
    return operation


VIDEO_ID = {"name": "video_id", "in": "path", "required": True, "schema": STRING}
IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": STRING,
    "description": "The same key and body within 24 h return the first result, charged once.",
}  # fmt: skip


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """(path, method) → the OpenAPI operation."""
    video_form = {
        "type": "object",
        "properties": {**{n: FIELD_TYPES.get(n, {}) for n in sorted(schemas.VIDEO_FIELDS)},
                       "input_reference": {"type": "string", "format": "binary",
                                           "description": "An image, or a video for a tool."}},
        "required": ["model"],
    }  # fmt: skip
    edit_form = {
        "type": "object",
        "properties": {**{n: FIELD_TYPES.get(n, {}) for n in sorted(schemas.IMAGE_EDIT_FIELDS)},
                       "image": {"type": "string", "format": "binary"},
                       "mask": {"type": "string", "format": "binary"}},
        "required": ["model", "prompt", "image"],
    }  # fmt: skip
    return {
        ("/v1/models", "get"): _operation(
            "List models", "The enabled models this key may use, with each one's price in "
            "micro-credits and any announced change.", tag="Models", ok=_ref("ModelList")),
        ("/v1/credits", "get"): _operation(
            "Balance", "Available credits and open holds.", tag="Account", ok=_ref("Credits")),
        ("/v1/chat/completions", "post"): _operation(
            "Chat completion", "OpenAI chat completions: streaming, tools, images, n. The "
            "worst case is held first; the actual cost is in usage.credits_charged.",
            body=_body(schemas.CHAT_FIELDS, "chat"), tag="Chat"),
        ("/v1/responses", "post"): _operation(
            "Response", "OpenAI Responses (Codex CLI): function tools, streaming.",
            body=_body(schemas.RESPONSES_FIELDS, "responses"), tag="Chat"),
        ("/v1/messages", "post"): _operation(
            "Message", "Anthropic Messages (Claude Code): streaming, tools, system.",
            body=_body(MESSAGES_FIELDS, "messages"), tag="Chat", anthropic=True),
        ("/v1/messages/count_tokens", "post"): _operation(
            "Count tokens", "Anthropic's token count for a Messages request; free.",
            body=_body(MESSAGES_FIELDS, "count_tokens"),
            tag="Chat", anthropic=True),
        ("/v1/embeddings", "post"): _operation(
            "Embeddings", "OpenAI embeddings.", tag="Embeddings",
            body=_body(schemas.EMBEDDINGS_FIELDS, "embeddings")),
        ("/v1/images/generations", "post"): _operation(
            "Generate images", "OpenAI images; priced per image by size and quality; a `url` "
            "is a signed link to our stored copy.", tag="Images",
            body=_body(schemas.IMAGE_FIELDS, "images", image=True)),
        ("/v1/images/edits", "post"): _operation(
            "Edit images", "Multipart, as the SDK sends it: up to 16 images and a mask.",
            tag="Images", body=OBJECT, multipart=edit_form),
        ("/v1/videos", "post"): _operation(
            "Create a video job", "Holds the job's price and answers `queued` at once; poll "
            "it, or give a callback_url. A tool (Enhance Video) takes a video as "
            "input_reference and is priced by its length.", tag="Videos",
            body=_body(schemas.VIDEO_FIELDS, "videos"), multipart=video_form,
            ok=_ref("Video"), params=[IDEMPOTENCY]),
        ("/v1/videos", "get"): _operation(
            "List video jobs", "Your jobs, newest first.", tag="Videos",
            params=[{"name": "limit", "in": "query", "schema": {**INTEGER, "minimum": 1,
                                                                 "maximum": 100}},
                    {"name": "after", "in": "query", "schema": STRING}]),
        ("/v1/videos/{video_id}", "get"): _operation(
            "Video job", "Status and progress (0–100).", tag="Videos", ok=_ref("Video"),
            params=[VIDEO_ID]),
        ("/v1/videos/{video_id}", "delete"): _operation(
            "Delete a video job", "An unfinished job is cancelled and refunded; a finished "
            "one's file is deleted.", tag="Videos", params=[VIDEO_ID]),
        ("/v1/videos/{video_id}/content", "get"): _operation(
            "Download the video", "302 to a signed link to the stored file (410 after the "
            "retention window).", tag="Videos", params=[VIDEO_ID]),
    }  # fmt: skip


COMPONENTS = {
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (sk-…)"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    },
    "schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type"],
            "properties": {"message": STRING, "type": STRING, "param": {"type": ["string", "null"]},
                           "code": {"type": ["string", "null"]}}}}},
        "AnthropicError": {"type": "object", "required": ["type", "error"], "properties": {
            "type": {"const": "error"}, "error": {"type": "object", "properties": {
                "type": STRING, "message": STRING}}}},
        "ModelList": {"type": "object", "properties": {"object": {"const": "list"}, "data": {
            "type": "array", "items": {"type": "object", "required": ["id", "object"],
                                       "properties": {"id": STRING, "object": STRING,
                                                      "owned_by": STRING, "kind": STRING,
                                                      "pricing": {"type": ["object", "null"]},
                                                      "upcoming_pricing": ARRAY}}}}},
        "Credits": {"type": "object", "properties": {
            "balance_micros": INTEGER, "balance_credits": STRING, "held_micros": INTEGER,
            "open_holds": INTEGER}},
        "Video": {"type": "object", "required": ["id", "object", "status"], "properties": {
            "id": STRING, "object": {"const": "video"}, "model": STRING,
            "status": {"enum": ["queued", "in_progress", "completed", "failed"]},
            "progress": INTEGER, "seconds": STRING, "size": STRING,
            "credits_held": INTEGER, "credits_charged": INTEGER}},
    },
}  # fmt: skip


def document(base_url: str, *, title: str = "reAPI") -> dict[str, Any]:
    """The document as a site serves it: its base URL, and its name (a white-label brand's
    on the brand's domain)."""
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), operation in operations().items():
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1",
            "description": "One OpenAI- and Anthropic-compatible API for many models. Amounts "
            "are in micro-credits (1 credit = 1,000,000; $1 = 1,000 credits).",
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": paths,
        "components": COMPONENTS,
    }
