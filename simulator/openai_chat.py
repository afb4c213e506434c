"""OpenAI Chat Completions: `POST /v1/chat/completions`, streamed or not.

Answers are deterministic (seeded by model + messages; choice `i` of `n` uses seed + i) and every
content token is one word, so for text answers `usage.completion_tokens` equals the number of
content chunks a stream carries.

Tools and JSON output (what a gateway adapter can rely on):

* Tool calls: with `tools` (type `function`) and `tool_choice` `"required"` or
  `{"type": "function", "function": {"name": ...}}`, each choice is `content: null` plus one
  `tool_calls` entry for the named (or else the first) tool, `finish_reason: "tool_calls"`.
  With `tool_choice` absent or `"auto"`, the bare word `tool` in the last user message's
  directive (`[sim tool]`, `[sim tool tokens=5]`) gives the usual text answer followed by a
  call to the first tool (`[sim tool tokens=0]`: `content: null`, the call only); if
  `max_tokens` truncates that text, the answer is `finish_reason: "length"` and no call.
  `"none"` never calls. The word `tool` counts only while the last message of the request is
  that user message (after a `tool` result message it is ignored, so a tool loop ends with a
  text answer); it is taken out of the directive before the rest is read as a fault spec;
  without `tools` it is ignored (a plain answer).
* A call is `{"id": "call_<24 hex>", "type": "function", "function": {"name", "arguments"}}`;
  `arguments` is `json.dumps` of `anthropic_messages.tool_input` over the tool's `parameters`
  schema (every property, strings two words, numbers 1..9 within min/max, enum[0], ...). The
  same request gives the same id and arguments, streamed or not. The call adds
  ceil(len(arguments) / 4) completion tokens; `max_tokens` never truncates a call.
* Streamed calls: after the text deltas (if any), one delta
  `{"tool_calls": [{"index": 0, "id", "type": "function", "function": {"name", "arguments": ""}}]}`
  then `{"tool_calls": [{"index": 0, "function": {"arguments": <piece>}}]}` deltas of at most
  `JSON_PIECE_CHARS` characters that concatenate to the non-stream `arguments`, then the finish
  chunk. The role chunk is `{"role": "assistant", "content": null}` when there is no text.
* `response_format` `{"type": "json_object"}`: `content` is `json.dumps({"answer": <text>})`,
  where `<text>` is the answer the request would get without it (`tokens` words). Completion
  tokens = words + `JSON_OVERHEAD_TOKENS` (4). `max_tokens` below words + 4 keeps the JSON
  valid but shortens the text to max(0, max_tokens - 4) words (`finish_reason: "length"`).
  Streamed, every delta is one token: `{"`, `answer`, `": "`, one delta per word, `"}`.
  `{"type": "json_schema", "json_schema": {"schema": ...}}`: `content` is `json.dumps` of
  `tool_input` over that schema (`json_schema.name` is optional here); completion tokens
  ceil(len(content) / 4), never truncated; streamed in pieces of at most `JSON_PIECE_CHARS`.
* `cut_after=N` counts text deltas, JSON pieces and argument pieces (not the call's first,
  name-carrying delta). Pacing (`tokens_per_second`) spends each delta's share of the tokens.
* Validation (400, OpenAI envelope, `param` set): `tools` not a non-empty array; a tool whose
  `type` is not `function`, without `function`, without `function.name` (param
  `tools[i].function.name`) or with a bad name, or whose `parameters` is not an object;
  `tool_choice` without `tools` (param `tool_choice`), not one of none/auto/required/a function
  object, or naming an undeclared function; `response_format` not an object, with a `type`
  other than text/json_object/json_schema (param `response_format.type`), or json_schema
  without a `json_schema` object. Not checked: the word "json" in the messages for
  json_object (OpenAI requires it), `json_schema.name`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.anthropic_messages import tool_input
from simulator.endpoint import Call, Endpoint
from simulator.faults import ErrorInfo, close_connection, find_directive, split_tool_word
from simulator.jsonshape import is_int as _is_int
from simulator.jsonshape import json_type as _json_type
from simulator.openai_common import json_response, new_id, render_error
from simulator.textgen import estimate_tokens, generate_tokens, seed_for

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_ROLE_LIST = "'system', 'assistant', 'user', 'tool', 'function', and 'developer'"
_IMAGE_PART_TOKENS = 85  # what a low-detail image costs at OpenAI
JSON_PIECE_CHARS = 12  # tool arguments / json_schema content stream in pieces of at most this
JSON_OVERHEAD_TOKENS = 4  # json_object content: `{"`, `answer`, `": "`, `"}` around the words
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TOOL_CHOICES = ("none", "auto", "required")
_RESPONSE_FORMATS = ("text", "json_object", "json_schema")


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
    tools: tuple[dict[str, Any], ...] = ()  # the `function` objects of the declared tools
    tool_choice: str = "none"  # none | auto | required | function
    tool_name: str | None = None  # with tool_choice "function"
    response_format: str = "text"  # text | json_object | json_schema
    response_schema: Any = None  # json_schema.schema
    response_name: str = "response"  # json_schema.name


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


def _check_tools(tools: Any) -> tuple[dict[str, Any], ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise InvalidRequest(
            f"Invalid type for 'tools': expected an array, but got {_json_type(tools)} instead.",
            param="tools",
            code="invalid_type",
        )
    if not tools:
        raise InvalidRequest(
            "Invalid 'tools': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="tools",
            code="empty_array",
        )
    functions: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise InvalidRequest(
                f"Invalid type for '{path}': expected an object, "
                f"but got {_json_type(tool)} instead.",
                param=path,
                code="invalid_type",
            )
        kind = tool.get("type")
        if kind is None:
            raise InvalidRequest(
                f"Missing required parameter: '{path}.type'.",
                param=f"{path}.type",
                code="missing_required_parameter",
            )
        if kind != "function":
            raise InvalidRequest(
                f"Invalid value: {json.dumps(kind)}. Supported values are: 'function'.",
                param=f"{path}.type",
                code="invalid_value",
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise InvalidRequest(
                f"Missing required parameter: '{path}.function'.",
                param=f"{path}.function",
                code="missing_required_parameter",
            )
        name = function.get("name")
        if name is None:
            raise InvalidRequest(
                f"Missing required parameter: '{path}.function.name'.",
                param=f"{path}.function.name",
                code="missing_required_parameter",
            )
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise InvalidRequest(
                f"Invalid '{path}.function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                param=f"{path}.function.name",
                code="invalid_value",
            )
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidRequest(
                f"Invalid type for '{path}.function.parameters': expected an object, "
                f"but got {_json_type(parameters)} instead.",
                param=f"{path}.function.parameters",
                code="invalid_type",
            )
        functions.append(function)
    return tuple(functions)


def _check_tool_choice(choice: Any, tools: tuple[dict[str, Any], ...]) -> tuple[str, str | None]:
    if choice is None:
        return ("auto" if tools else "none"), None
    if not tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            param="tool_choice",
        )
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise InvalidRequest(
                f"Invalid value: {json.dumps(choice)}. Supported values are: 'none', 'auto', "
                "and 'required'.",
                param="tool_choice",
                code="invalid_value",
            )
        return choice, None
    function = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or choice.get("type") != "function":
        raise InvalidRequest(
            "Invalid 'tool_choice': expected 'none', 'auto', 'required' or an object "
            '{"type": "function", "function": {"name": ...}}.',
            param="tool_choice",
            code="invalid_value",
        )
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise InvalidRequest(
            "Missing required parameter: 'tool_choice.function.name'.",
            param="tool_choice.function.name",
            code="missing_required_parameter",
        )
    if name not in {f["name"] for f in tools}:
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': function '{name}' is not one of the "
            "functions declared in 'tools'.",
            param="tool_choice",
            code="invalid_value",
        )
    return "function", name


def _check_response_format(value: Any) -> tuple[str, Any, str]:
    if value is None:
        return "text", None, "response"
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"Invalid type for 'response_format': expected an object, "
            f"but got {_json_type(value)} instead.",
            param="response_format",
            code="invalid_type",
        )
    kind = value.get("type")
    if kind is None:
        raise InvalidRequest(
            "Missing required parameter: 'response_format.type'.",
            param="response_format.type",
            code="missing_required_parameter",
        )
    if kind not in _RESPONSE_FORMATS:
        raise InvalidRequest(
            f"Invalid value: {json.dumps(kind)}. Supported values are: 'text', 'json_object', "
            "and 'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    if kind != "json_schema":
        return kind, None, "response"
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise InvalidRequest(
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
            code="missing_required_parameter",
        )
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise InvalidRequest(
            f"Invalid type for 'response_format.json_schema.schema': expected an object, "
            f"but got {_json_type(schema)} instead.",
            param="response_format.json_schema.schema",
            code="invalid_type",
        )
    name = spec.get("name")
    return kind, schema, name if isinstance(name, str) and name else "response"


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

    tools = _check_tools(body.get("tools"))
    tool_choice, tool_name = _check_tool_choice(body.get("tool_choice"), tools)
    response_format, response_schema, response_name = _check_response_format(
        body.get("response_format")
    )

    return ChatParams(
        model=model,
        messages=messages,
        stream=bool(stream),
        include_usage=include_usage,
        n=n,
        max_tokens=max_tokens,
        tools=tools,
        tool_choice=tool_choice,
        tool_name=tool_name,
        response_format=response_format,
        response_schema=response_schema,
        response_name=response_name,
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


def _raw_directive(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            return find_directive(_text_of(message.get("content")))
    return None


def directive(body: Any) -> str | None:
    """The fault part of a `[sim ...]` directive in the last user message, if any."""
    found = _raw_directive(body)
    return None if found is None else split_tool_word(found)[0]


def wants_tool_directive(body: Any) -> bool:
    # Only while the user has the last word: once a `tool` message answers the call, the same
    # user turn must not ask again, so a tool loop ends with a text answer.
    messages = body.get("messages") if isinstance(body, dict) else None
    if not messages or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        return False
    found = _raw_directive(body)
    return found is not None and split_tool_word(found)[1]


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


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, as OpenAI sends it


@dataclass(frozen=True, slots=True)
class Answer:
    """One choice: its content deltas (text words or JSON pieces), its tool call, its usage."""

    pieces: list[str]
    tool: ToolCall | None
    finish_reason: str
    tokens: int  # completion tokens
    json_pieces: bool = False  # pieces are JSON_PIECE_CHARS slices (pace by length, not count)

    @property
    def content(self) -> str | None:
        # OpenAI sends null content with a tool call and no text.
        return None if self.tool is not None and not self.pieces else "".join(self.pieces)


def split_pieces(text: str) -> list[str]:
    return [text[at : at + JSON_PIECE_CHARS] for at in range(0, len(text), JSON_PIECE_CHARS)]


def _call_id(seed: int, name: str, arguments: str) -> str:
    digest = hashlib.sha256(f"{seed}:{name}:{arguments}".encode()).hexdigest()
    return "call_" + digest[:24]


def plan_answer(
    params: ChatParams, seed: int, wanted: int, wants_tool: bool, forced: bool
) -> Answer:
    """The answer of one choice (seed already offset by the choice index)."""
    pieces: list[str] = []
    finish_reason = "stop"
    tokens = 0
    json_pieces = False
    if not forced:
        fmt = params.response_format
        if fmt == "json_schema":
            schema = {"name": params.response_name, "input_schema": params.response_schema}
            text = json.dumps(tool_input(schema, seed & 0xFFFFFFFF))
            pieces, tokens, json_pieces = split_pieces(text), estimate_tokens(text), True
        else:
            overhead = JSON_OVERHEAD_TOKENS if fmt == "json_object" else 0
            limit = params.max_tokens
            truncated = limit is not None and limit < wanted + overhead
            count = max(0, limit - overhead) if truncated else wanted
            words = generate_tokens(seed, count, final_period=not truncated)
            if overhead:
                # json.dumps of {"answer": text}, one token a delta.
                escaped = [json.dumps(w)[1:-1] for w in words]
                pieces = ['{"', "answer", '": "', *escaped, '"}']
            else:
                pieces = words
            tokens = count + overhead
            if truncated:
                finish_reason, wants_tool = "length", False
    tool = None
    if wants_tool:
        if params.tool_choice == "function":
            function = next(f for f in params.tools if f["name"] == params.tool_name)
        else:
            function = params.tools[0]
        name = function["name"]
        schema = {"name": name, "input_schema": function.get("parameters")}
        arguments = json.dumps(tool_input(schema, seed & 0xFFFFFFFF))
        tool = ToolCall(_call_id(seed, name, arguments), name, arguments)
        finish_reason = "tool_calls"
        tokens += estimate_tokens(arguments)
    return Answer(pieces, tool, finish_reason, tokens, json_pieces)


def _plain_answers(params: ChatParams, seed: int, wanted: int) -> list[Answer]:
    """Text answers (no tools, no JSON): the common case, kept cheap."""
    truncated = params.max_tokens is not None and params.max_tokens < wanted
    count = params.max_tokens if truncated else wanted
    finish_reason = "length" if truncated else "stop"
    return [
        Answer(
            generate_tokens(seed + i, count, final_period=not truncated), None, finish_reason, count
        )
        for i in range(params.n)
    ]


async def chat_completions(call: Call) -> web.StreamResponse:
    try:
        params = parse_request(call.body)
    except InvalidRequest as exc:
        return render_error(exc.info)

    wanted = call.faults.tokens
    if wanted is None:
        wanted = call.settings.default_tokens
    seed = seed_for(params.model, params.messages)
    if not params.tools and params.response_format == "text":
        answers = _plain_answers(params, seed, wanted)
    else:
        forced = params.tool_choice in ("required", "function")
        wants_tool = forced or (params.tool_choice == "auto" and wants_tool_directive(call.body))
        answers = [
            plan_answer(params, seed + i, wanted, wants_tool, forced) for i in range(params.n)
        ]
    prompt = prompt_tokens(params.messages, call.body.get("tools"))
    usage = usage_object(prompt, sum(a.tokens for a in answers))
    if params.stream:
        return await _stream(call, params, answers, usage)

    rate = call.tokens_per_second
    longest = max(a.tokens for a in answers)
    if rate > 0 and longest:
        await asyncio.sleep(longest / rate)  # the whole answer takes as long as it would stream
    payload = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": params.model,
        "choices": [
            {
                "index": i,
                "message": _message(answer),
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
            for i, answer in enumerate(answers)
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_sim",
    }
    return await json_response(call, payload)


def _message(answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    tool = answer.tool
    if tool is not None:
        message["tool_calls"] = [
            {
                "id": tool.id,
                "type": "function",
                "function": {"name": tool.name, "arguments": tool.arguments},
            }
        ]
    return message


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _deltas(answer: Answer) -> list[tuple[str, float]]:
    """A choice's stream deltas after the role chunk, each with the tokens it spends (0: not a
    content delta, so neither paced nor counted by `cut_after`)."""
    if answer.json_pieces:
        deltas = [('{"content":' + json.dumps(p) + "}", len(p) / 4) for p in answer.pieces]
    else:
        deltas = [('{"content":' + json.dumps(p) + "}", 1.0) for p in answer.pieces]
    tool = answer.tool
    if tool is not None:
        head = {
            "index": 0,
            "id": tool.id,
            "type": "function",
            "function": {"name": tool.name, "arguments": ""},
        }
        deltas.append(('{"tool_calls":[' + _compact(head) + "]}", 0.0))
        for piece in split_pieces(tool.arguments):
            fragment = {"index": 0, "function": {"arguments": piece}}
            deltas.append(('{"tool_calls":[' + _compact(fragment) + "]}", len(piece) / 4))
    return deltas


async def _stream(
    call: Call,
    params: ChatParams,
    answers: list[Answer],
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
    buffer: list[str] = [
        event(
            i,
            '{"role":"assistant","content":""}'
            if answer.content is not None
            else '{"role":"assistant","content":null}',
        )
        for i, answer in enumerate(answers)
    ]
    if faults.malformed:
        buffer.append(f'{head}{{"index":0,"delta":{{"content":\n\n')  # truncated JSON
    per_choice = [_deltas(answer) for answer in answers]
    spent = [0.0] * len(answers)  # tokens each choice has streamed, for pacing

    try:
        if paced:  # the first byte goes out now; content follows at the configured rate
            await response.write("".join(buffer).encode())
            buffer.clear()
        sent = 0
        for step in range(max(len(d) for d in per_choice)):
            if paced:
                for index, deltas in enumerate(per_choice):
                    if step < len(deltas):
                        spent[index] += deltas[step][1]
                delay = started + max(spent) / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            for index, deltas in enumerate(per_choice):
                if step >= len(deltas):
                    continue
                delta, weight = deltas[step]
                if weight:
                    if cut is not None and sent >= cut:
                        return await _cut(call, response, buffer)
                    sent += 1
                buffer.append(event(index, delta))
            if paced:
                await response.write("".join(buffer).encode())
                buffer.clear()
        if cut is not None:  # asked to cut after more chunks than there are: cut before the end
            return await _cut(call, response, buffer)
        buffer.extend(
            event(i, "{}", json.dumps(answer.finish_reason)) for i, answer in enumerate(answers)
        )
        if params.include_usage:
            buffer.append(f'{head}],"usage":{_compact(usage)}}}\n\n')
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
