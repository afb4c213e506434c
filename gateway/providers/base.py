"""The interface every chat adapter implements, and what it hands back to the router."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from catalog.pricing import TokenUsage
from catalog.selectors import RouteInfo
from gateway.schemas import ChatRequest, EmbeddingsRequest, ImageRequest, VideoRequest


@dataclass(frozen=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ChatResult:
    """A finished non-stream answer (a completion, embeddings), already in OpenAI's shape."""

    body: dict[str, Any]
    usage: TokenUsage | None


def openai_usage(usage: TokenUsage) -> dict[str, Any]:
    """Our usage in OpenAI's chat `usage` shape (what adapters of other protocols report)."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


def chat_completion(
    *, id: str, model: str, message: dict[str, Any], finish_reason: str, usage: TokenUsage | None
) -> ChatResult:
    """A finished answer of another protocol, in OpenAI's `chat.completion` shape."""
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        body["usage"] = openai_usage(usage)
    return ChatResult(body=body, usage=usage)


def assistant_message(text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


class Chunks:
    """OpenAI `chat.completion.chunk` dicts for an adapter translating another protocol's
    stream: `delta(...)` for each piece, `usage(...)` for the final choices-less chunk."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-"
        self.model = model
        self.created = int(time.time())

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def usage(self, usage: TokenUsage) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": openai_usage(usage),
        }


def error_message(payload: Any) -> str | None:
    """The message of a provider's error body. OpenAI, Anthropic and Google all answer
    `{"error": {"message": ...}}` (some OpenAI-compatible servers send `{"error": "..."}`)."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return None


@dataclass(frozen=True)
class VideoPoll:
    """A video job's state upstream: queued | in_progress | completed | failed, progress
    0–100, and where the file is when the provider gives a link (else None)."""

    status: str
    progress: int
    content_url: str | None = None


class UpstreamProtocolError(Exception):
    """The upstream answered 200 with something we cannot read (retryable)."""


class Adapter(Protocol):
    def chat_request(self, route: RouteInfo, chat: ChatRequest) -> UpstreamRequest: ...

    def chat_result(self, payload: Any, chat: ChatRequest) -> ChatResult:
        """Turn a 200 body into our OpenAI-shaped result; raise UpstreamProtocolError."""
        ...

    def chat_events(
        self, response: aiohttp.ClientResponse, chat: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI `chat.completion.chunk` dicts from a streaming 200 response."""
        ...

    def embeddings_request(
        self, route: RouteInfo, request: EmbeddingsRequest
    ) -> UpstreamRequest: ...

    def embeddings_result(self, payload: Any, request: EmbeddingsRequest) -> ChatResult:
        """Turn a 200 body into OpenAI's embeddings list; raise UpstreamProtocolError."""
        ...

    def images_request(self, route: RouteInfo, request: ImageRequest) -> UpstreamRequest: ...

    def images_result(self, payload: Any, request: ImageRequest) -> ChatResult:
        """Turn a 200 body into OpenAI's images list (`data` items with `b64_json` or an
        upstream `url`); raise UpstreamProtocolError."""
        ...

    # Video jobs: submitted through the router (POST, with failover), then polled and
    # downloaded by the worker (gateway/videos.py) with plain GETs.
    def video_create_request(self, route: RouteInfo, video: VideoRequest) -> UpstreamRequest: ...

    def video_create_result(
        self, route: RouteInfo, payload: Any, video: VideoRequest
    ) -> ChatResult:
        """`body` = {"upstream_id": ..., "status": ..., "progress": ...}."""
        ...

    def video_poll_request(self, route: RouteInfo, upstream_id: str) -> UpstreamRequest: ...

    def video_poll_result(self, route: RouteInfo, payload: Any) -> VideoPoll: ...

    def video_content_request(
        self, route: RouteInfo, upstream_id: str, content_url: str | None
    ) -> UpstreamRequest: ...


class NoMedia:
    """For adapters whose provider makes no images or videos through this protocol (yet):
    the router moves on to the model's next route."""

    def images_request(self, route: RouteInfo, request: ImageRequest) -> UpstreamRequest:
        raise NotImplementedError("no image generation through this protocol")

    def images_result(self, payload: Any, request: ImageRequest) -> ChatResult:
        raise NotImplementedError("no image generation through this protocol")

    def video_create_request(self, route: RouteInfo, video: VideoRequest) -> UpstreamRequest:
        raise NotImplementedError("no video generation through this protocol")

    def video_create_result(
        self, route: RouteInfo, payload: Any, video: VideoRequest
    ) -> ChatResult:
        raise NotImplementedError("no video generation through this protocol")

    def video_poll_request(self, route: RouteInfo, upstream_id: str) -> UpstreamRequest:
        raise NotImplementedError("no video generation through this protocol")

    def video_poll_result(self, route: RouteInfo, payload: Any) -> VideoPoll:
        raise NotImplementedError("no video generation through this protocol")

    def video_content_request(
        self, route: RouteInfo, upstream_id: str, content_url: str | None
    ) -> UpstreamRequest:
        raise NotImplementedError("no video generation through this protocol")
