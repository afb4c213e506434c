"""Anthropic Messages upstreams (api.anthropic.com and compatible), behind our internal
OpenAI chat shape: requests translated O→A, answers and streams A→O (PROTOCOLS.md §4–5).
The provider's base URL has no /v1 (like the anthropic SDK's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from catalog.pricing import TokenUsage
from catalog.selectors import RouteInfo
from gateway import tokens
from gateway.providers.base import (
    ChatResult,
    Chunks,
    NoMedia,
    UpstreamProtocolError,
    UpstreamRequest,
    assistant_message,
    chat_completion,
)
from gateway.providers.sse import iter_sse_data
from gateway.schemas import ChatRequest, EmbeddingsRequest

API_VERSION = "2023-06-01"
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[dict[str, Any]] | str:
    if isinstance(content, str):
        return content
    blocks: list[dict[str, Any]] = []
    for part in content or []:
        kind = part.get("type")
        if kind in {"text", "input_text"}:
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            blocks.append(_image_block(image.get("url", "") if isinstance(image, dict) else image))
    return blocks


def _as_blocks(content: list[dict[str, Any]] | str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def to_anthropic(chat: ChatRequest, upstream_model: str) -> dict[str, Any]:
    """Our OpenAI-shaped chat request → an Anthropic Messages request."""
    body = chat.body
    if chat.n != 1:
        raise NotImplementedError("Anthropic has no n > 1")
    system: list[str] = []
    messages: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        # Anthropic wants alternating turns: merge consecutive same-role messages.
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})

    for message in body["messages"]:
        role = message.get("role")
        content = message.get("content")
        if role in {"system", "developer"}:
            texts = _user_blocks(content)
            system.append(texts if isinstance(texts, str) else
                          "\n".join(b.get("text", "") for b in texts))  # fmt: skip
        elif role == "user":
            add("user", _as_blocks(_user_blocks(content)))
        elif role == "assistant":
            blocks = []
            if isinstance(content, str) and content:
                blocks.append({"type": "text", "text": content})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                try:
                    arguments = orjson.loads(function.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    arguments = {}
                blocks.append({"type": "tool_use", "id": call.get("id"),
                               "name": function.get("name"), "input": arguments})  # fmt: skip
            add("assistant", blocks or [{"type": "text", "text": ""}])
        elif role in {"tool", "function"}:
            text = (
                content
                if isinstance(content, str)
                else "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
            )
            add("user", [{"type": "tool_result", "tool_use_id": message.get("tool_call_id"),
                          "content": text}])  # fmt: skip
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_tokens": chat.max_output_tokens or tokens.DEFAULT_MAX_OUTPUT_TOKENS,
    }
    if system:
        out["system"] = "\n".join(system)
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)  # Anthropic's range is 0–1
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    if body.get("tools"):
        out["tools"] = [
            {"name": t["function"]["name"],
             "description": t["function"].get("description", ""),
             "input_schema": t["function"].get("parameters") or {"type": "object"}}
            for t in body["tools"] if isinstance(t, dict) and t.get("type") == "function"
        ]  # fmt: skip
    choice = body.get("tool_choice")
    if choice == "auto":
        out["tool_choice"] = {"type": "auto"}
    elif choice == "required":
        out["tool_choice"] = {"type": "any"}
    elif choice == "none":
        out["tool_choice"] = {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out["tool_choice"] = {"type": "tool", "name": choice["function"].get("name")}
    if body.get("parallel_tool_calls") is False and "tool_choice" in out:
        out["tool_choice"]["disable_parallel_tool_use"] = True
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    if chat.stream:
        out["stream"] = True
    return out


def usage_from_anthropic(usage: Any) -> TokenUsage | None:
    if not isinstance(usage, dict) or not isinstance(usage.get("output_tokens"), int):
        return None
    fresh = usage.get("input_tokens") or 0
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    return TokenUsage(
        input_tokens=fresh + read + written,
        output_tokens=usage["output_tokens"],
        cached_input_tokens=read,
    )


class AnthropicAdapter(NoMedia):
    def chat_request(self, route: RouteInfo, chat: ChatRequest) -> UpstreamRequest:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if chat.stream else "application/json",
            "anthropic-version": API_VERSION,
        }
        if route.api_key:
            headers["x-api-key"] = route.api_key
        return UpstreamRequest(
            url=f"{route.base_url}/v1/messages",
            headers=headers,
            body=orjson.dumps(to_anthropic(chat, route.upstream_model)),
        )

    def chat_result(self, payload: Any, chat: ChatRequest) -> ChatResult:
        if not isinstance(payload, dict) or payload.get("type") != "message":
            raise UpstreamProtocolError("not an Anthropic message")
        text = ""
        calls = []
        for block in payload.get("content") or []:
            if block.get("type") == "text":
                text += block.get("text", "")
            elif block.get("type") == "tool_use":
                calls.append({"id": block.get("id"), "type": "function", "function": {
                    "name": block.get("name"),
                    "arguments": orjson.dumps(block.get("input") or {}).decode()}})  # fmt: skip
        return chat_completion(
            id="chatcmpl-" + str(payload.get("id", "")).removeprefix("msg_"),
            model=chat.model,
            message=assistant_message(text, calls),
            finish_reason=FINISH_REASONS.get(payload.get("stop_reason"), "stop"),
            usage=usage_from_anthropic(payload.get("usage")),
        )

    async def chat_events(
        self, response: aiohttp.ClientResponse, chat: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        chunks = Chunks(chat.model)
        input_usage: dict[str, Any] = {}
        output_tokens = 0
        finish: str | None = None
        tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool_calls index

        async for data in iter_sse_data(response):
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamProtocolError("unreadable stream event") from None
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "message_start":
                message = event.get("message") or {}
                chunks.id = "chatcmpl-" + str(message.get("id", "")).removeprefix("msg_")
                input_usage = message.get("usage") or {}
                yield chunks.delta({"role": "assistant", "content": ""})
            elif kind == "content_block_start":
                block = event.get("content_block") or {}
                if block.get("type") == "tool_use":
                    position = len(tool_index)
                    tool_index[event.get("index", 0)] = position
                    yield chunks.delta({"tool_calls": [{"index": position, "id": block.get("id"),
                                 "type": "function", "function": {"name": block.get("name"),
                                 "arguments": ""}}]})  # fmt: skip
            elif kind == "content_block_delta":
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta":
                    yield chunks.delta({"content": delta.get("text", "")})
                elif delta.get("type") == "input_json_delta":
                    position = tool_index.get(event.get("index", 0), 0)
                    yield chunks.delta({"tool_calls": [{"index": position, "function": {
                        "arguments": delta.get("partial_json", "")}}]})  # fmt: skip
            elif kind == "message_delta":
                finish = FINISH_REASONS.get((event.get("delta") or {}).get("stop_reason"), "stop")
                output_tokens = (event.get("usage") or {}).get("output_tokens", output_tokens)
            elif kind == "message_stop":
                yield chunks.delta({}, finish or "stop")
                usage = usage_from_anthropic({**input_usage, "output_tokens": output_tokens})
                if usage is not None:
                    yield chunks.usage(usage)
                return
            elif kind == "error":
                raise UpstreamProtocolError("the upstream sent an error event")
        raise UpstreamProtocolError("the stream ended without message_stop")

    def embeddings_request(self, route: RouteInfo, request: EmbeddingsRequest) -> UpstreamRequest:
        raise NotImplementedError("Anthropic has no embeddings")

    def embeddings_result(self, payload: Any, request: EmbeddingsRequest) -> ChatResult:
        raise NotImplementedError("Anthropic has no embeddings")
