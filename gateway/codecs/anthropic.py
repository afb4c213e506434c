"""Anthropic Messages on the client side (`POST /v1/messages`, `/v1/messages/count_tokens`),
translated to and from OpenAI chat completions (PROTOCOLS.md §4–5). Claude Code and the
anthropic SDK talk to any model in the catalog this way."""

from __future__ import annotations

from typing import Any

import orjson

from catalog.pricing import TokenUsage
from gateway.errors import ApiError
from gateway.schemas import _is_int, _is_number

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def bad(message: str) -> ApiError:
    return ApiError(400, message)


def error_body(error: ApiError, request_id: str | None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(
        error.status, "api_error" if error.status >= 500 else "invalid_request_error"
    )
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": error.message}}
    if request_id:
        body["request_id"] = request_id
    return body


def _text_of(blocks: Any, where: str) -> str:
    """The text of a string or of a list of text blocks (system prompts, tool results)."""
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        raise bad(f"{where}: expected a string or a list of text blocks.")
    parts = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad(f"{where}.{i}: only text blocks are allowed here.")
        if not isinstance(block.get("text"), str):
            raise bad(f"{where}.{i}.text: expected a string.")
        parts.append(block["text"])
    return "\n".join(parts)


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{where}.source: required.")
    if source.get("type") == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise bad(f"{where}.source: media_type and data are required strings.")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise bad(f"{where}.source.type: expected 'base64' or 'url'.")


def _user_turn(content: Any, where: str) -> list[dict[str, Any]]:
    """One Anthropic user turn → OpenAI messages: tool results first (one `tool` message
    each), then the rest as a user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list) or not content:
        raise bad(f"{where}.content: expected a string or a non-empty list of blocks.")
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        at = f"{where}.content.{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            if not isinstance(block.get("text"), str):
                raise bad(f"{at}.text: expected a string.")
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image_part(block, at))
        elif kind == "tool_result":
            if not isinstance(block.get("tool_use_id"), str):
                raise bad(f"{at}.tool_use_id: required.")
            result = block.get("content", "")
            text = _text_of(result, f"{at}.content") if result else ""
            if block.get("is_error"):
                text = f"Error: {text}"
            tool_messages.append(
                {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}
            )
        elif kind in {"thinking", "redacted_thinking"}:
            continue
        else:
            raise bad(f"{at}.type: unsupported block type {kind!r}.")
    messages = list(tool_messages)
    if parts:
        messages.append({"role": "user", "content": parts})
    return messages


def _assistant_turn(content: Any, where: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise bad(f"{where}.content: expected a string or a list of blocks.")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        at = f"{where}.content.{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise bad(f"{at}: tool_use needs an id and a name.")
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {
                        "name": block["name"],
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        elif kind in {"thinking", "redacted_thinking"}:
            continue  # no OpenAI equivalent; replayed thinking is dropped
        else:
            raise bad(f"{at}.type: unsupported block type {kind!r}.")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


# The Messages API's top-level fields. Anthropic refuses others ("Extra inputs are not
# permitted") unless a beta is named: beta requests (the anthropic-beta header, as Claude Code
# sends) may carry fields newer than this list, and those pass.
MESSAGES_FIELDS = frozenset({
    "model", "messages", "max_tokens", "container", "context_management", "inference_geo",
    "mcp_servers", "metadata", "output_config", "output_format", "service_tier",
    "stop_sequences", "stream", "system", "temperature", "thinking", "tool_choice", "tools",
    "top_k", "top_p",
})  # fmt: skip


def refuse_unknown_fields(body: dict[str, Any]) -> None:
    for name in body:
        if name not in MESSAGES_FIELDS:
            raise bad(f"{name[:100]}: Extra inputs are not permitted")


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request → the equivalent OpenAI chat completions request."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model: Field required.")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise bad("max_tokens: Field required.")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise bad("max_tokens: Input should be a positive integer.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages: Field required (a non-empty list).")
    out: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        out.append({"role": "system", "content": _text_of(system, "system")})
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise bad(f"{where}: expected an object.")
        role = message.get("role")
        if role == "user":
            out.extend(_user_turn(message.get("content"), where))
        elif role == "assistant":
            out.append(_assistant_turn(message.get("content"), where))
        elif role == "system":
            # Claude Code sometimes puts a system turn inside `messages`; keep it in place.
            out.append({"role": "system", "content": _text_of(message.get("content"), where)})
        else:
            raise bad(f"{where}.role: Input should be 'user' or 'assistant'.")
    chat: dict[str, Any] = {"model": model, "messages": out, "max_tokens": max_tokens}
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise bad("stop_sequences: expected a list of strings.")
        chat["stop"] = stops
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            if not _is_number(body[name]):
                raise bad(f"{name}: expected a number.")
            chat[name] = body[name]
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise bad("tools: expected a list.")
        declared = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise bad(f"tools.{i}.name: Field required.")
            function = {"name": tool["name"], "parameters": tool.get("input_schema") or {}}
            if isinstance(tool.get("description"), str):
                function["description"] = tool["description"]
            declared.append({"type": "function", "function": function})
        if declared:  # OpenAI rejects an empty tools list
            chat["tools"] = declared
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind == "tool" and isinstance(choice.get("name"), str):
            mapped: Any = {"type": "function", "function": {"name": choice["name"]}}
        elif kind in {"auto", "any", "none"}:
            mapped = {"auto": "auto", "any": "required", "none": "none"}[kind]
        else:
            raise bad("tool_choice: expected type auto, any, tool (with a name) or none.")
        # OpenAI allows tool_choice only beside tools; without tools it means nothing.
        if "tools" in chat:
            chat["tool_choice"] = mapped
            if choice.get("disable_parallel_tool_use") is True:
                chat["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream: expected a boolean.")
    if stream:
        chat["stream"] = True
    return chat


def usage_block(usage: TokenUsage, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    block = {
        "input_tokens": usage.input_tokens - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": usage.output_tokens,
    }
    block.update(extra or {})
    return block


def message_id(upstream_id: Any, request_id: str) -> str:
    return "msg_" + request_id.removeprefix("req_")


def from_openai(
    body: dict[str, Any], *, model: str, request_id: str, usage: TokenUsage, extra: dict
) -> dict[str, Any]:
    """A finished OpenAI chat completion → an Anthropic message."""
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {}
        content.append(
            {"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
             "input": arguments if isinstance(arguments, dict) else {}}
        )  # fmt: skip
    return {
        "id": message_id(body.get("id"), request_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
        "stop_sequence": None,
        "usage": usage_block(usage, extra=extra),
    }


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class StreamWriter:
    """OpenAI chat chunks in, Anthropic stream events out (PROTOCOLS.md §5, O→A)."""

    def __init__(self, *, model: str, request_id: str, input_tokens_estimate: int) -> None:
        self.model = model
        self.request_id = request_id
        self.input_estimate = input_tokens_estimate
        self.started = False
        self.index = -1
        self.open_kind: str | None = None
        self.tool_blocks: dict[int, int] = {}  # OpenAI tool index → our block index
        self.stop_reason = "end_turn"

    def _start(self) -> bytes:
        self.started = True
        message = {
            "id": message_id(None, self.request_id), "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.input_estimate, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1},
        }  # fmt: skip
        return _event("message_start", {"type": "message_start", "message": message}) + _event(
            "ping", {"type": "ping"}
        )

    def _close(self) -> bytes:
        if self.open_kind is None:
            return b""
        self.open_kind = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _open(self, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.index += 1
        self.open_kind = block["type"]
        return out + _event(
            "content_block_start",
            {"type": "content_block_start", "index": self.index, "content_block": block},
        )

    def chunk(self, event: dict[str, Any]) -> bytes:
        out = b"" if self.started else self._start()
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.open_kind != "text":
                    out += self._open({"type": "text", "text": ""})
                out += _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": self.index,
                     "delta": {"type": "text_delta", "text": text}},
                )  # fmt: skip
            for call in delta.get("tool_calls") or []:
                position = call.get("index", 0)
                function = call.get("function") or {}
                if position not in self.tool_blocks:
                    out += self._open(
                        {"type": "tool_use", "id": call.get("id") or f"toolu_{position}",
                         "name": function.get("name") or "", "input": {}}
                    )  # fmt: skip
                    self.tool_blocks[position] = self.index
                fragment = function.get("arguments")
                if isinstance(fragment, str) and fragment:
                    out += _event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": self.tool_blocks[position],
                         "delta": {"type": "input_json_delta", "partial_json": fragment}},
                    )  # fmt: skip
            if choice.get("finish_reason"):
                self.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return out

    def end(self, usage: TokenUsage, extra: dict[str, Any]) -> bytes:
        out = (b"" if self.started else self._start()) + self._close()
        out += _event(
            "message_delta",
            {"type": "message_delta",
             "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
             "usage": usage_block(usage, extra=extra)},
        )  # fmt: skip
        return out + _event("message_stop", {"type": "message_stop"})

    def cut(self, message: str) -> bytes:
        return _event(
            "error", {"type": "error", "error": {"type": "api_error", "message": message}}
        )
