"""OpenAI's Responses API on the client side (`POST /v1/responses`, what Codex CLI speaks),
translated to and from OpenAI chat completions (PROTOCOLS.md §2).

We store nothing, so `previous_response_id` is refused with a clear 400: clients send the
whole conversation each turn (Codex does, with `store: false`). Tools other than `function`
(web_search, namespaces, local shell, custom) have no chat-completions equivalent and are
dropped deliberately; the model then simply does not see them. Reasoning items are dropped
from the input for the same reason."""

from __future__ import annotations

import time
from typing import Any

import orjson

from catalog.pricing import TokenUsage
from gateway.errors import bad_request
from gateway.schemas import RESPONSES_FIELDS, refuse_unknown_fields


def _text_parts(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"'{where}.content' must be a string or an array.", param=where)
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in {"input_text", "output_text", "text"} and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_image":
            url = part.get("image_url")
            if isinstance(url, str):
                parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "refusal":
            continue
        else:
            raise bad_request(f"'{where}': unsupported content part {kind!r}.", param=where)
    return parts


def _plain(parts: str | list[dict[str, Any]]) -> str:
    if isinstance(parts, str):
        return parts
    return "".join(p.get("text", "") for p in parts if p.get("type") == "text")


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses request → the equivalent chat completions request."""
    refuse_unknown_fields(body, RESPONSES_FIELDS)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("You must provide a model parameter.", param="model", code="missing")
    if body.get("previous_response_id"):
        raise bad_request(
            "previous_response_id is not supported: this gateway stores no responses. Send "
            "the whole conversation in 'input' (with store: false).",
            param="previous_response_id",
            code="unsupported_parameter",
        )
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    raw = body.get("input")
    if raw is None:
        raise bad_request("Missing required parameter: 'input'.", param="input", code="missing")
    items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise bad_request("'input' must be a string or a non-empty array.", param="input")
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"'{where}' must be an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in {"user", "assistant", "system", "developer"}:
                raise bad_request(f"'{where}.role' is not valid.", param=f"{where}.role")
            parts = _text_parts(item.get("content"), where)
            if role == "assistant":
                _assistant(messages)["content"] = (
                    _assistant(messages).get("content") or ""
                ) + _plain(parts)
            else:
                messages.append({"role": role, "content": parts})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            _assistant(messages).setdefault("tool_calls", []).append(call)  # fmt: skip
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else orjson.dumps(output).decode()
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
        # reasoning and other item kinds carry nothing chat completions can use: dropped.
    chat: dict[str, Any] = {"model": model, "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "parallel_tool_calls", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    tools = [
        {"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters",
                                                             "strict") if k in t}}
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    ]  # fmt: skip
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if choice in {"auto", "none", "required"}:
            chat["tool_choice"] = choice
        elif isinstance(choice, dict) and choice.get("type") == "function":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    text_format = (
        (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    )
    if isinstance(text_format, dict) and text_format.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif isinstance(text_format, dict) and text_format.get("type") == "json_schema":
        schema = {k: text_format[k] for k in ("name", "schema", "strict") if k in text_format}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    effort = (
        (body.get("reasoning") or {}).get("effort")
        if isinstance(body.get("reasoning"), dict)
        else None
    )
    if isinstance(effort, str):
        chat["reasoning_effort"] = effort
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", param="stream")
    if stream:
        chat["stream"] = True
    return chat


def _assistant(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant turn being built (consecutive items of one turn share it)."""
    if not messages or messages[-1]["role"] != "assistant":
        messages.append({"role": "assistant", "content": None})
    return messages[-1]


def usage_block(usage: TokenUsage, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
        **extra,
    }


def _response(
    *, request_id: str, model: str, status: str, output: list[dict[str, Any]],
    usage: dict[str, Any] | None, incomplete: str | None = None, error: dict | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": "resp_" + request_id.removeprefix("req_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "error": error,
    }


def _status(finish_reason: Any) -> tuple[str, str | None]:
    if finish_reason == "length":
        return "incomplete", "max_output_tokens"
    if finish_reason == "content_filter":
        return "incomplete", "content_filter"
    return "completed", None


def from_openai(
    body: dict[str, Any], *, model: str, request_id: str, usage: TokenUsage, extra: dict
) -> dict[str, Any]:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    suffix = request_id.removeprefix("req_")
    output: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        part = {"type": "output_text", "text": message["content"], "annotations": []}
        output.append({"type": "message", "id": f"msg_{suffix}", "role": "assistant",
                       "status": "completed", "content": [part]})  # fmt: skip
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        output.append({"type": "function_call", "id": f"fc_{suffix}_{i}", "call_id": call.get("id"),
                       "name": function.get("name"), "arguments": function.get("arguments", ""),
                       "status": "completed"})  # fmt: skip
    status, incomplete = _status(choice.get("finish_reason"))
    return _response(request_id=request_id, model=model, status=status, output=output,
                     usage=usage_block(usage, extra), incomplete=incomplete)  # fmt: skip


class StreamWriter:
    """Chat chunks in, Responses stream events out: created → in_progress → items and parts
    → completed (or incomplete), every event with its sequence_number."""

    def __init__(self, *, model: str, request_id: str) -> None:
        self.model = model
        self.request_id = request_id
        self.suffix = request_id.removeprefix("req_")
        self.sequence = 0
        self.started = False
        self.items: list[dict[str, Any]] = []  # output items in order
        self.text_item: dict[str, Any] | None = None
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool index → function_call item
        self.finish_reason: Any = None

    def _event(self, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self.sequence
        self.sequence += 1
        kind = payload["type"].encode()
        return b"event: " + kind + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _snapshot(self, status: str, **kw: Any) -> dict[str, Any]:
        return _response(request_id=self.request_id, model=self.model, status=status,
                         output=self.items, usage=kw.get("usage"),
                         incomplete=kw.get("incomplete"), error=kw.get("error"))  # fmt: skip

    def _start(self) -> bytes:
        self.started = True
        response = self._snapshot("in_progress")
        return self._event({"type": "response.created", "response": response}) + self._event(
            {"type": "response.in_progress", "response": response}
        )

    def _add(self, item: dict[str, Any]) -> bytes:
        self.items.append(item)
        return self._event({"type": "response.output_item.added",
                            "output_index": len(self.items) - 1, "item": item})  # fmt: skip

    def chunk(self, event: dict[str, Any]) -> bytes:
        out = b"" if self.started else self._start()
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.text_item is None:
                    self.text_item = {"type": "message", "id": f"msg_{self.suffix}",
                                      "role": "assistant", "status": "in_progress", "content": [],
                                      "_text": ""}  # fmt: skip
                    out += self._add(self._public(self.text_item))
                    self.items[-1] = self.text_item
                    empty = {"type": "output_text", "text": "", "annotations": []}
                    out += self._event({"type": "response.content_part.added",
                        "item_id": self.text_item["id"], "output_index": len(self.items) - 1,
                        "content_index": 0, "part": empty})  # fmt: skip
                self.text_item["_text"] += text
                out += self._event({"type": "response.output_text.delta",
                    "item_id": self.text_item["id"], "output_index": self._index(self.text_item),
                    "content_index": 0, "delta": text})  # fmt: skip
            for call in delta.get("tool_calls") or []:
                position = call.get("index", 0)
                function = call.get("function") or {}
                if position not in self.calls:
                    item = {"type": "function_call", "id": f"fc_{self.suffix}_{position}",
                            "call_id": call.get("id"), "name": function.get("name"),
                            "arguments": "", "status": "in_progress"}  # fmt: skip
                    self.calls[position] = item
                    out += self._add(dict(item))
                    self.items[-1] = item
                item = self.calls[position]
                fragment = function.get("arguments")
                if isinstance(fragment, str) and fragment:
                    item["arguments"] += fragment
                    out += self._event({"type": "response.function_call_arguments.delta",
                        "item_id": item["id"], "output_index": self._index(item),
                        "delta": fragment})  # fmt: skip
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def _index(self, item: dict[str, Any]) -> int:
        return next(i for i, candidate in enumerate(self.items) if candidate is item)

    @staticmethod
    def _public(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def _close_items(self) -> bytes:
        out = b""
        for item in self.items:
            index = self._index(item)
            if item["type"] == "message":
                text = item.pop("_text", "")
                part = {"type": "output_text", "text": text, "annotations": []}
                item["content"] = [part]
                item["status"] = "completed"
                out += self._event({"type": "response.output_text.done", "item_id": item["id"],
                    "output_index": index, "content_index": 0, "text": text})  # fmt: skip
                out += self._event({"type": "response.content_part.done", "item_id": item["id"],
                    "output_index": index, "content_index": 0, "part": part})  # fmt: skip
            else:
                item["status"] = "completed"
                out += self._event({"type": "response.function_call_arguments.done",
                    "item_id": item["id"], "output_index": index,
                    "arguments": item["arguments"]})  # fmt: skip
            out += self._event({"type": "response.output_item.done", "output_index": index,
                                "item": self._public(item)})  # fmt: skip
        return out

    def end(self, usage: TokenUsage, extra: dict[str, Any]) -> bytes:
        out = (b"" if self.started else self._start()) + self._close_items()
        status, incomplete = _status(self.finish_reason)
        self.items = [self._public(i) for i in self.items]
        response = self._snapshot(status, usage=usage_block(usage, extra), incomplete=incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event({"type": kind, "response": response})

    def cut(self, message: str) -> bytes:
        self.items = [self._public(i) for i in self.items]
        error = {"code": "server_error", "message": message}
        response = self._snapshot("failed", error=error)
        return (b"" if self.started else self._start()) + self._event(
            {"type": "response.failed", "response": response}
        )
