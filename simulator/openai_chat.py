"""OpenAI Chat Completions: `POST /v1/chat/completions`, streamed or not.

Answers are deterministic (seeded by model + messages) and every content token is one word, so
`usage.completion_tokens` equals the number of content chunks a stream carries.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.endpoint import Call, Endpoint
from simulator.faults import ErrorInfo, close_connection, find_directive
from simulator.jsonshape import is_int as _is_int
from simulator.jsonshape import json_type as _json_type
from simulator.openai_common import json_response, new_id, render_error
from simulator.textgen import estimate_tokens, generate_tokens, seed_for

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_ROLE_LIST = "'system', 'assistant', 'user', 'tool', 'function', and 'developer'"
_IMAGE_PART_TOKENS = 85  # what a low-detail image costs at OpenAI


class InvalidRequest(Exception):
    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.info = ErrorInfo(400, message, code=code, param=param)


@dataclass(frozen=True, slots=True)
class ChatParams:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    n: int
    max_tokens: int | None


def _check_content(index: int, message: dict[str, Any]) -> None:
    role = message["role"]
    param = f"messages[{index}].content"
    if "content" not in message or message["content"] is None:
        # Only assistant turns may omit content (e.g. when they carry tool_calls).
        if role in ("assistant", "function"):
            return
        raise InvalidRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    content = message["content"]
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(
            f"Invalid type for '{param}': expected one of a string or array of objects, "
            f"but got {_json_type(content)} instead.",
            param=param,
            code="invalid_type",
        )
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(
                f"Invalid '{param}[{j}]': expected an object with a 'type'.",
                param=f"{param}[{j}]",
                code="invalid_type",
            )
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise InvalidRequest(
                f"Missing required parameter: '{param}[{j}].text'.",
                param=f"{param}[{j}].text",
                code="missing_required_parameter",
            )


def parse_request(body: Any) -> ChatParams:
    """Validate like api.openai.com does (same messages, params and codes where we know them)."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}.",
            code="invalid_type",
        )
    model = body.get("model")
    if model is None:
        raise InvalidRequest(
            "you must provide a model parameter", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            f"Invalid type for 'model': expected a non-empty string, got {_json_type(model)}.",
            param="model",
            code="invalid_type",
        )
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list):
        raise InvalidRequest(
            f"Invalid type for 'messages': expected an array, "
            f"but got {_json_type(messages)} instead.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(
                f"Invalid type for 'messages[{i}]': expected an object, "
                f"but got {_json_type(message)} instead.",
                param=f"messages[{i}]",
                code="invalid_type",
            )
        role = message.get("role")
        if role is None:
            raise InvalidRequest(
                f"Missing required parameter: 'messages[{i}].role'.",
                param=f"messages[{i}].role",
                code="missing_required_parameter",
            )
        if role not in ROLES:
            raise InvalidRequest(
                f"Invalid value: '{role}'. Supported values are: {_ROLE_LIST}.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        _check_content(i, message)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequest(
                f"Missing required parameter: 'messages[{i}].tool_call_id'.",
                param=f"messages[{i}].tool_call_id",
                code="missing_required_parameter",
            )

    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest(
            f"Invalid type for 'stream': expected a boolean, but got {_json_type(stream)} instead.",
            param="stream",
            code="invalid_type",
        )
    stream_options = body.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        if not isinstance(stream_options, dict):
            raise InvalidRequest(
                "Invalid type for 'stream_options': expected an object.",
                param="stream_options",
                code="invalid_type",
            )
        include_usage = stream_options.get("include_usage") is True

    n = body.get("n")
    if n is None:
        n = 1
    elif not _is_int(n) or not 1 <= n <= 128:
        raise InvalidRequest(
            f"Invalid 'n': expected an integer between 1 and 128, but got {n!r}.",
            param="n",
            code="invalid_value",
        )

    max_tokens: int | None = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not _is_int(value):
            raise InvalidRequest(
                f"Invalid type for '{name}': expected an integer, "
                f"but got {_json_type(value)} instead.",
                param=name,
                code="invalid_type",
            )
        if value < 1:
            raise InvalidRequest(
                f"Invalid '{name}': integer below minimum value. "
                f"Expected a value >= 1, but got {value} instead.",
                param=name,
                code="integer_below_min_value",
            )
        # max_completion_tokens is the newer name and wins when both are sent.
        if max_tokens is None:
            max_tokens = value

    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 2
    ):
        raise InvalidRequest(
            f"Invalid 'temperature': expected a number between 0 and 2, but got {temperature!r}.",
            param="temperature",
            code="invalid_value",
        )

    return ChatParams(
        model=model,
        messages=messages,
        stream=bool(stream),
        include_usage=include_usage,
        n=n,
        max_tokens=max_tokens,
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def directive(body: Any) -> str | None:
    """A `[sim ...]` directive in the last user message, if any."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            return find_directive(_text_of(message.get("content")))
    return None


def prompt_tokens(messages: list[dict[str, Any]], tools: Any) -> int:
    """About what OpenAI counts: ~4 chars a token, plus framing per message and per reply."""
    total = 3
    for message in messages:
        total += 4
        content = message.get("content")
        if isinstance(content, str):
            total += estimate_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    total += estimate_tokens(part.get("text", ""))
                else:
                    total += _IMAGE_PART_TOKENS
        name = message.get("name")
        if isinstance(name, str):
            total += estimate_tokens(name)
        tool_calls = message.get("tool_calls")
        if tool_calls:
            total += estimate_tokens(json.dumps(tool_calls))
    if tools:
        total += estimate_tokens(json.dumps(tools))
    return total


def usage_object(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def chat_completions(call: Call) -> web.StreamResponse:
    try:
        params = parse_request(call.body)
    except InvalidRequest as exc:
        return render_error(exc.info)

    wanted = call.faults.tokens
    if wanted is None:
        wanted = call.settings.default_tokens
    truncated = params.max_tokens is not None and params.max_tokens < wanted
    count = params.max_tokens if truncated else wanted
    finish_reason = "length" if truncated else "stop"
    seed = seed_for(params.model, params.messages)
    choices = [
        generate_tokens(seed + i, count, final_period=not truncated) for i in range(params.n)
    ]
    prompt = prompt_tokens(params.messages, call.body.get("tools"))
    usage = usage_object(prompt, count * params.n)
    if params.stream:
        return await _stream(call, params, choices, finish_reason, usage)

    rate = call.tokens_per_second
    if rate > 0 and count:
        await asyncio.sleep(count / rate)  # the whole answer takes as long as it would stream
    payload = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": params.model,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            for i, tokens in enumerate(choices)
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_sim",
    }
    return await json_response(call, payload)


async def _stream(
    call: Call,
    params: ChatParams,
    choices: list[list[str]],
    finish_reason: str,
    usage: dict[str, Any],
) -> web.StreamResponse:
    request = call.request
    faults = call.faults
    chunk_id = new_id("chatcmpl-")
    # Every chunk shares this head and tail; only the choice part is serialised per event.
    head = (
        f'data: {{"id":"{chunk_id}","object":"chat.completion.chunk",'
        f'"created":{int(time.time())},"model":{json.dumps(params.model)},'
        f'"system_fingerprint":"fp_sim","choices":['
    )
    tail = ',"usage":null}\n\n' if params.include_usage else "}\n\n"

    def event(index: int, delta: str, finish: str = "null") -> str:
        return (
            f'{head}{{"index":{index},"delta":{delta},"logprobs":null,'
            f'"finish_reason":{finish}}}]{tail}'
        )

    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "x-request-id": new_id("req_"),
        }
    )
    await response.prepare(request)

    rate = call.tokens_per_second
    paced = rate > 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    cut = faults.cut_after
    buffer: list[str] = [event(i, '{"role":"assistant","content":""}') for i in range(params.n)]
    if faults.malformed:
        buffer.append(f'{head}{{"index":0,"delta":{{"content":\n\n')  # truncated JSON

    try:
        if paced:  # the first byte goes out now; content follows at the configured rate
            await response.write("".join(buffer).encode())
            buffer.clear()
        sent = 0
        for step in range(len(choices[0])):
            if paced:
                delay = started + (step + 1) / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            for index, tokens in enumerate(choices):
                if cut is not None and sent >= cut:
                    return await _cut(call, response, buffer)
                buffer.append(event(index, '{"content":' + json.dumps(tokens[step]) + "}"))
                sent += 1
            if paced:
                await response.write("".join(buffer).encode())
                buffer.clear()
        if cut is not None:  # asked to cut after more chunks than there are: cut before the end
            return await _cut(call, response, buffer)
        finish = json.dumps(finish_reason)
        buffer.extend(event(i, "{}", finish) for i in range(params.n))
        if params.include_usage:
            buffer.append(f'{head}],"usage":{json.dumps(usage, separators=(",", ":"))}}}\n\n')
        buffer.append("data: [DONE]\n\n")
        await response.write("".join(buffer).encode())
    except ConnectionError:
        pass  # the client went away; nothing left to tell it
    return response


async def _cut(call: Call, response: web.StreamResponse, buffer: list[str]) -> web.StreamResponse:
    if buffer:
        await response.write("".join(buffer).encode())
    close_connection(call.request)  # no [DONE], no terminating chunk: an aborted stream
    return response


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/chat/completions",
        chat_completions,
        render_error,
        directive=directive,
        json_body=True,
    ),
]
