"""Upstreams that speak OpenAI's Responses API (`POST /v1/responses`), for models that OpenAI
serves only there (the codex and pro models): our internal chat request goes out as a
Responses request, the answer and the stream come back as chat (PROTOCOLS.md §2).

Provider kind `openai_responses`; the base URL ends in `/v1`, as for `openai`. We send
`store: false` (nothing is kept upstream either) and the whole conversation every time.
What the Responses API has no field for is refused with NotImplementedError, so the router
tries the model's next route: `n > 1`, `stop`, `logprobs`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from catalog.pricing import TokenUsage
from catalog.selectors import RouteInfo
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

UNSUPPORTED = ("stop", "logprobs", "top_logprobs", "logit_bias", "seed", "frequency_penalty",
               "presence_penalty")  # fmt: skip
PASSED_AS_IS = ("temperature", "top_p", "parallel_tool_calls", "user", "metadata",
                "service_tier", "prompt_cache_key", "safety_identifier")  # fmt: skip


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"
    )


def _user_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            item: dict[str, Any] = {"type": "input_image", "image_url": url}
            if isinstance(image, dict) and image.get("detail"):
                item["detail"] = image["detail"]
            parts.append(item)
    return parts


def to_responses(chat: ChatRequest, upstream_model: str) -> dict[str, Any]:
    """Our OpenAI chat request → a Responses request."""
    body = chat.body
    if chat.n != 1:
        raise NotImplementedError("the Responses API has no n > 1")
    if any(body.get(name) is not None for name in UNSUPPORTED):
        raise NotImplementedError("a chat parameter the Responses API does not have")
    items: list[dict[str, Any]] = []
    for message in body["messages"]:
        role = message.get("role")
        content = message.get("content")
        if role in {"system", "developer"}:
            items.append({"type": "message", "role": role, "content": _text(content)})
        elif role == "user":
            items.append({"type": "message", "role": "user", "content": _user_content(content)})
        elif role == "assistant":
            text = _text(content)
            if text:
                items.append({"type": "message", "role": "assistant",
                              "content": [{"type": "output_text", "text": text}]})  # fmt: skip
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                items.append({"type": "function_call", "call_id": call.get("id"),
                              "name": function.get("name"),
                              "arguments": function.get("arguments") or ""})  # fmt: skip
        elif role in {"tool", "function"}:
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id"),
                    "output": _text(content),
                }
            )
    out: dict[str, Any] = {"model": upstream_model, "input": items, "store": False}
    if chat.max_output_tokens is not None:
        out["max_output_tokens"] = chat.max_output_tokens
    for name in PASSED_AS_IS:
        if body.get(name) is not None:
            out[name] = body[name]
    tools = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict):
            tools.append(
                {
                    "type": "function",
                    **{
                        k: function[k]
                        for k in ("name", "description", "parameters", "strict")
                        if k in function
                    },
                }
            )
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        out["tool_choice"] = choice
    elif isinstance(choice, dict):
        out["tool_choice"] = {
            "type": "function",
            "name": (choice.get("function") or {}).get("name"),
        }
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_object":
            out["text"] = {"format": {"type": "json_object"}}
        elif kind == "json_schema":
            schema = response_format.get("json_schema") or {}
            out["text"] = {"format": {"type": "json_schema", **schema}}
    if isinstance(body.get("reasoning_effort"), str):
        out["reasoning"] = {"effort": body["reasoning_effort"]}
    if chat.stream:
        out["stream"] = True
    return out


def usage_from_responses(usage: Any) -> TokenUsage | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    details = usage.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return TokenUsage(
        input_tokens=max(prompt, 0),
        output_tokens=max(completion, 0),  # reasoning tokens are inside output_tokens
        cached_input_tokens=cached if isinstance(cached, int) and cached > 0 else 0,
    )


def _finish(response: dict[str, Any], called: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if called else "stop"


def _call(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item.get("call_id"),
        "type": "function",
        "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""},
    }


class OpenAIResponsesAdapter(NoMedia):
    def chat_request(self, route: RouteInfo, chat: ChatRequest) -> UpstreamRequest:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if chat.stream else "application/json",
        }
        if route.api_key:
            headers["authorization"] = f"Bearer {route.api_key}"
        return UpstreamRequest(
            url=f"{route.base_url}/responses",
            headers=headers,
            body=orjson.dumps(to_responses(chat, route.upstream_model)),
        )

    def chat_result(self, payload: Any, chat: ChatRequest) -> ChatResult:
        if not isinstance(payload, dict) or payload.get("object") != "response":
            raise UpstreamProtocolError("not a Responses API response")
        if payload.get("status") not in {"completed", "incomplete"}:
            raise UpstreamProtocolError("the response did not complete")
        text, calls = "", []
        for item in payload.get("output") or []:
            if item.get("type") == "message":
                for part in item.get("content") or []:
                    if part.get("type") == "output_text":
                        text += part.get("text", "")
            elif item.get("type") == "function_call":
                calls.append(_call(item))
        return chat_completion(
            id="chatcmpl-" + str(payload.get("id", "")).removeprefix("resp_"),
            model=chat.model,
            message=assistant_message(text, calls),
            finish_reason=_finish(payload, bool(calls)),
            usage=usage_from_responses(payload.get("usage")),
        )

    async def chat_events(
        self, response: aiohttp.ClientResponse, chat: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        chunks = Chunks(chat.model)
        calls: dict[str, int] = {}  # function_call item id → chat tool_calls index
        async for data in iter_sse_data(response):
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamProtocolError("unreadable stream event") from None
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "response.created":
                chunks.id = "chatcmpl-" + str((event.get("response") or {}).get("id", ""))
                yield chunks.delta({"role": "assistant", "content": ""})
            elif kind == "response.output_text.delta":
                yield chunks.delta({"content": event.get("delta", "")})
            elif kind == "response.output_item.added":
                item = event.get("item") or {}
                if item.get("type") == "function_call":
                    calls[item.get("id")] = len(calls)
                    call = {"index": calls[item.get("id")], **_call(item)}
                    yield chunks.delta({"tool_calls": [call]})
            elif kind == "response.function_call_arguments.delta":
                position = calls.get(event.get("item_id"), 0)
                yield chunks.delta(
                    {
                        "tool_calls": [
                            {"index": position, "function": {"arguments": event.get("delta", "")}}
                        ]
                    }
                )
            elif kind in {"response.completed", "response.incomplete"}:
                final = event.get("response") or {}
                yield chunks.delta({}, _finish(final, bool(calls)))
                usage = usage_from_responses(final.get("usage"))
                if usage is not None:
                    yield chunks.usage(usage)
                return
            elif kind in {"response.failed", "error"}:
                raise UpstreamProtocolError("the upstream sent an error event")
        raise UpstreamProtocolError("the stream ended without response.completed")

    def embeddings_request(self, route: RouteInfo, request: EmbeddingsRequest) -> UpstreamRequest:
        raise NotImplementedError("the Responses API has no embeddings")

    def embeddings_result(self, payload: Any, request: EmbeddingsRequest) -> ChatResult:
        raise NotImplementedError("the Responses API has no embeddings")
