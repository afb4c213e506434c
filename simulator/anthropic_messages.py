"""Anthropic Messages: `POST /v1/messages` (streamed or not) and `POST /v1/messages/count_tokens`.

Wire shapes follow /work/shared/PROTOCOLS.md §4; where it is silent (validation messages, which
headers are checked, the order of `ping`), this follows the official Anthropic API as we know it
and says so next to the code.

Behaviour (what a gateway adapter can rely on):

* Auth: `x-api-key` or `Authorization: Bearer` must be present (any value); otherwise 401
  `authentication_error`. `anthropic-version` must be present (any value; the official SDK sends
  newer dates than 2023-06-01); otherwise 400 `invalid_request_error`. `anthropic-beta` is ignored.
* Text answers are deterministic (seeded by model + system + messages + tools) and every output
  token is one word, as in the chat module: `usage.output_tokens` equals the number of
  `text_delta` events of the stream. `max_tokens` below the answer length truncates it
  (`stop_reason: "max_tokens"`, no final period). A `stop_sequences` entry found in the text
  ends it before the sequence (`stop_reason: "stop_sequence"`, `stop_sequence` set); then
  `output_tokens` is the number of (possibly clipped) words sent. An empty answer (`tokens=0`)
  has `content: []` and, streamed, no content block at all.
* `usage.input_tokens` = 3 + (4 + text tokens of `system`, if any) + Σ messages (4 + content
  tokens) + ceil(len(json.dumps(tools)) / 4); text counts ceil(chars / 4) (per string or text
  block, like chat), an image or document block 85, a tool_use block its name + its JSON input,
  a tool_result block its content. A text-only request counts what the equivalent chat request
  counts. `count_tokens` returns the same number for the same body. Cache counters are always 0.
* Tool use: when `tools` has a custom tool (one with `input_schema`) and `tool_choice` is
  `{"type": "any"}` or `{"type": "tool", "name": ...}`, the answer is one `tool_use` block and
  nothing else (Anthropic prefills forced tool calls). With `auto` (or no `tool_choice`), the
  directive `[sim tool]` in the last user message's text gives a text block (the usual answer,
  `tokens` words; `[sim tool tokens=0]` for none) followed by a `tool_use` block for the first
  custom tool; `none` never calls a tool. Either way `stop_reason: "tool_use"`, the block's id
  is `toolu_...`, and its `input` is built from `input_schema` (see `tool_input`): same request,
  same input, streamed or not. `output_tokens` adds ceil(len(input JSON) / 4) for the tool call.
  `max_tokens` never truncates a tool call. A last user message holding only tool_result blocks
  has no directive, so a tool loop ends with a text answer.
* Streams: `message_start` (usage: input_tokens, cache counters, output_tokens 1),
  `content_block_start`, `ping` (after the first block start), `content_block_delta`s,
  `content_block_stop`, ... , `message_delta` (stop_reason, stop_sequence, cumulative
  output_tokens), `message_stop`. Tool input arrives as `input_json_delta` pieces of at most
  `JSON_PIECE_CHARS` characters that concatenate to `json.dumps(input)`.
* Faults: a `status` fault answers this module's error envelope (429 `rate_limit_error` with
  `retry-after`, 529 `overloaded_error`, 504 `timeout_error`, other 5xx `api_error`, ...; a `code`
  fault replaces `error.type`). `cut_after=N` closes a stream after N content deltas (text or
  tool JSON; never a `message_delta`/`message_stop`), or sends half of a plain body.
  `malformed` truncates a plain body or adds one unparsable `data:` line after `message_start`.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.endpoint import Call, Endpoint
from simulator.faults import (
    ErrorInfo,
    close_connection,
    find_directive,
    retry_after_headers,
    send_partial,
    split_tool_word,
)
from simulator.jsonshape import is_int as _is_int
from simulator.jsonshape import is_number as _is_number
from simulator.jsonshape import json_type as _json_type
from simulator.openai_common import new_id
from simulator.textgen import estimate_tokens, generate_tokens, seed_for

ROLES = ("user", "assistant")
_IMAGE_BLOCK_TOKENS = 85  # same flat price as the chat module's image parts
JSON_PIECE_CHARS = 12  # tool input JSON is streamed in pieces of at most this many characters
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_MAX_SCHEMA_DEPTH = 4

# Block types accepted in `messages[].content`. Only the first five are checked in detail; the
# rest are passed over so that a gateway forwarding them is not rejected by the simulator.
_BLOCK_TYPES = (
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
)
_BLOCK_TAGS = ", ".join(f"'{t}'" for t in _BLOCK_TYPES)
_TOOL_CHOICES = ("auto", "any", "tool", "none")


# --- errors ---------------------------------------------------------------------------------

# status -> (error.type, message). Types from PROTOCOLS.md §4; messages modelled on the API's.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Simulated bad request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization. Please try again later.",
    ),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timeout"),  # PROTOCOLS.md: type confirmed, status unverified
    529: ("overloaded_error", "Overloaded"),
}


def error_body(info: ErrorInfo, request_id: str) -> dict[str, Any]:
    default_kind = "invalid_request_error" if info.status < 500 else "api_error"
    kind, message = _ERRORS.get(info.status, (default_kind, "Simulated error."))
    return {
        "type": "error",
        # Anthropic errors have no `code`: a `code` fault names the error type instead.
        "error": {"type": info.code or kind, "message": info.message or message},
        "request_id": request_id,
    }


def render_error(info: ErrorInfo) -> web.Response:
    request_id = new_id("req_")
    headers = retry_after_headers(info)
    headers["request-id"] = request_id
    return web.Response(
        status=info.status,
        body=json.dumps(error_body(info, request_id)).encode(),
        content_type="application/json",
        headers=headers,
    )


class InvalidRequest(Exception):
    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.info = ErrorInfo(status, message)


# --- request validation ---------------------------------------------------------------------
# Messages follow the API's "<path>: <problem>" style (e.g. "max_tokens: Field required"); the
# exact texts are not in PROTOCOLS.md and only approximate Anthropic's.


@dataclass(frozen=True, slots=True)
class MessagesParams:
    model: str
    max_tokens: int | None  # None only for count_tokens
    system: str | list[dict[str, Any]] | None
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    custom_tools: list[dict[str, Any]]  # those with an input_schema: the ones we can call
    tool_choice: str  # auto | any | tool | none
    tool_name: str | None  # with tool_choice "tool"
    stream: bool
    stop_sequences: list[str]


def _check_text_block(block: dict[str, Any], path: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{path}.text: Field required")
    if not text:
        raise InvalidRequest(f"{path}: text content blocks must be non-empty")


def _check_block(block: Any, path: str) -> None:
    if not isinstance(block, dict):
        raise InvalidRequest(f"{path}: Input should be a valid dictionary or object")
    kind = block.get("type")
    if kind not in _BLOCK_TYPES:
        raise InvalidRequest(
            f"{path}: Input tag {json.dumps(kind)} found using 'type' does not match any of "
            f"the expected tags: {_BLOCK_TAGS}"
        )
    if kind == "text":
        _check_text_block(block, path)
    elif kind in ("image", "document"):
        source = block.get("source")
        if not isinstance(source, dict) or not isinstance(source.get("type"), str):
            raise InvalidRequest(f"{path}.source: Field required")
    elif kind == "tool_use":
        for name in ("id", "name"):
            if not isinstance(block.get(name), str) or not block[name]:
                raise InvalidRequest(f"{path}.{name}: Field required")
        if not isinstance(block.get("input"), dict):
            raise InvalidRequest(f"{path}.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise InvalidRequest(f"{path}.tool_use_id: Field required")
        content = block.get("content")
        if isinstance(content, list):
            for k, inner in enumerate(content):
                _check_block(inner, f"{path}.content.{k}")
        elif content is not None and not isinstance(content, str):
            raise InvalidRequest(f"{path}.content: Input should be a valid string or list")
        is_error = block.get("is_error")
        if is_error is not None and not isinstance(is_error, bool):
            raise InvalidRequest(f"{path}.is_error: Input should be a valid boolean")


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if b.get("type") == kind]


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise InvalidRequest("messages: Field required")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Input should be a valid list")
    if not messages:
        raise InvalidRequest("messages: at least one message is required")
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role is None:
            raise InvalidRequest(f"messages.{i}.role: Field required")
        if role not in ROLES:
            raise InvalidRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise InvalidRequest(f"messages.{i}.content: Field required")
        content = message["content"]
        if isinstance(content, str):
            empty = not content
        elif isinstance(content, list):
            empty = not content
            for j, block in enumerate(content):
                _check_block(block, f"messages.{i}.content.{j}")
        else:
            raise InvalidRequest(f"messages.{i}.content: Input should be a valid string or list")
        if empty and not (i == last and role == "assistant"):
            raise InvalidRequest(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )

    # Every tool_use must be answered by a tool_result in the very next (user) message, and
    # every tool_result must answer a tool_use of the message before (as the API enforces).
    for i, message in enumerate(messages):
        results = _blocks(message, "tool_result")
        if results:
            previous = messages[i - 1] if i else None
            known = (
                {b["id"] for b in _blocks(previous, "tool_use")}
                if previous is not None and previous.get("role") == "assistant"
                else set()
            )
            for j, block in enumerate(message["content"]):
                if block.get("type") == "tool_result" and block["tool_use_id"] not in known:
                    raise InvalidRequest(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block['tool_use_id']}. Each `tool_result` "
                        "block must have a corresponding `tool_use` block in the previous "
                        "message."
                    )
        if message["role"] == "assistant" and i < last:
            uses = [b["id"] for b in _blocks(message, "tool_use")]
            if uses:
                answered = {b["tool_use_id"] for b in _blocks(messages[i + 1], "tool_result")}
                missing = [u for u in uses if u not in answered]
                if missing:
                    raise InvalidRequest(
                        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                        f"immediately after: {', '.join(missing)}. Each `tool_use` block must "
                        "have a corresponding `tool_result` block in the next message."
                    )
    return messages


def _check_system(system: Any) -> str | list[dict[str, Any]] | None:
    if system is None or isinstance(system, str):
        return system
    if not isinstance(system, list):
        raise InvalidRequest("system: Input should be a valid string or list")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise InvalidRequest(f"system.{j}: Input should be a text block")
        _check_text_block(block, f"system.{j}")
    return system


def _check_tools(tools: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if tools is None:
        return [], []
    if not isinstance(tools, list):
        raise InvalidRequest("tools: Input should be a valid list")
    custom: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"tools.{i}: Input should be a valid dictionary")
        name = tool.get("name")
        if not isinstance(name, str):
            raise InvalidRequest(f"tools.{i}.name: Field required")
        if not _TOOL_NAME.fullmatch(name):
            raise InvalidRequest(
                f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            )
        if name in names:
            raise InvalidRequest("tools: Tool names must be unique.")
        names.add(name)
        kind = tool.get("type")
        if kind is None or kind == "custom":
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise InvalidRequest(f"tools.{i}.custom.input_schema: Field required")
            custom.append(tool)
        # Other types are server tools (web_search_..., bash_...): accepted, never called here.
    return tools, custom


def _check_tool_choice(choice: Any, tools: list[dict[str, Any]]) -> tuple[str, str | None]:
    if choice is None:
        return "auto", None
    if not isinstance(choice, dict) or choice.get("type") not in _TOOL_CHOICES:
        raise InvalidRequest(
            "tool_choice: Input should be an object with 'type' one of 'auto', 'any', 'tool' "
            "or 'none'"
        )
    kind = choice["type"]
    if kind in ("any", "tool") and not tools:
        raise InvalidRequest("tool_choice may only be specified while providing tools.")
    name = None
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("tool_choice.tool.name: Field required")
        if name not in {t.get("name") for t in tools}:
            raise InvalidRequest(f"tool_choice.tool.name: Tool '{name}' not found in tools")
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise InvalidRequest(
            f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
        )
    return kind, name


def _check_sampling(body: dict[str, Any]) -> None:
    for name, high in (("temperature", 1), ("top_p", 1)):
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise InvalidRequest(f"{name}: Input should be a valid number")
        if not 0 <= value <= high:
            raise InvalidRequest(f"{name}: Input should be between 0 and {high}")
    top_k = body.get("top_k")
    if top_k is not None and (not _is_int(top_k) or top_k < 0):
        raise InvalidRequest("top_k: Input should be a non-negative integer")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise InvalidRequest("metadata: Input should be a valid dictionary")
        user_id = metadata.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            raise InvalidRequest("metadata.user_id: Input should be a valid string")


def _check_thinking(body: dict[str, Any], max_tokens: int | None) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict) or not isinstance(thinking.get("type"), str):
        raise InvalidRequest("thinking: Input should be a valid dictionary with a 'type'")
    if thinking["type"] != "enabled":
        return  # disabled / adaptive: nothing to check
    budget = thinking.get("budget_tokens")
    if not _is_int(budget):
        raise InvalidRequest("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise InvalidRequest(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if max_tokens is not None and max_tokens <= budget:
        raise InvalidRequest("`max_tokens` must be greater than `thinking.budget_tokens`.")


def parse_request(body: Any, *, count_only: bool = False) -> MessagesParams:
    """Validate a Messages (or, with `count_only`, a count_tokens) body.

    Unknown fields are accepted: the official SDK sends many newer ones. count_tokens ignores
    `max_tokens` and `stream` rather than rejecting them (PROTOCOLS.md does not say which)."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"Input should be a valid dictionary, got {_json_type(body)}")
    model = body.get("model")
    if model is None:
        raise InvalidRequest("model: Field required")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Input should be a non-empty string")

    max_tokens = None
    if not count_only:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise InvalidRequest("max_tokens: Field required")
        if not _is_int(max_tokens):
            raise InvalidRequest("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise InvalidRequest("max_tokens: Input should be greater than or equal to 1")

    messages = _check_messages(body.get("messages"))
    system = _check_system(body.get("system"))
    tools, custom = _check_tools(body.get("tools"))
    tool_choice, tool_name = _check_tool_choice(body.get("tool_choice"), tools)
    if tool_choice == "tool" and tool_name not in {t["name"] for t in custom}:
        raise InvalidRequest(f"tool_choice.tool.name: '{tool_name}' is not a custom tool")

    stream = body.get("stream")
    if not count_only and stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream: Input should be a valid boolean")
    stops = body.get("stop_sequences")
    if stops is None:
        stops = []
    elif not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise InvalidRequest("stop_sequences: Input should be a list of non-empty strings")
    _check_sampling(body)
    _check_thinking(body, max_tokens)

    return MessagesParams(
        model=model,
        max_tokens=max_tokens,
        system=system,
        messages=messages,
        tools=tools,
        custom_tools=custom,
        tool_choice=tool_choice,
        tool_name=tool_name,
        stream=bool(stream) and not count_only,
        stop_sequences=stops,
    )


def _check_headers(request: web.Request) -> None:
    # Which header the API checks first is not documented; auth first, as the API answers.
    if not request.headers.get("x-api-key") and not request.headers.get("authorization"):
        raise InvalidRequest("x-api-key header is required", status=401)
    if not request.headers.get("anthropic-version"):
        raise InvalidRequest("anthropic-version: header is required")


# --- directive and token counting -----------------------------------------------------------


def _last_user_text(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(
                    b["text"]
                    for b in content
                    if isinstance(b, dict)
                    and b.get("type") == "text"
                    and isinstance(b.get("text"), str)
                )
            return None
    return None


def directive(body: Any) -> str | None:
    """The fault part of a `[sim ...]` directive in the last user message, if any."""
    text = _last_user_text(body)
    found = None if text is None else find_directive(text)
    return None if found is None else split_tool_word(found)[0]


def _wants_tool_directive(body: Any) -> bool:
    text = _last_user_text(body)
    found = None if text is None else find_directive(text)
    return found is not None and split_tool_word(found)[1]


def _text_tokens(text: Any) -> int:
    return estimate_tokens(text) if isinstance(text, str) else 0


def _block_tokens(block: dict[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        return _text_tokens(block.get("text"))
    if kind in ("image", "document"):
        return _IMAGE_BLOCK_TOKENS
    if kind == "tool_use":
        return _text_tokens(block.get("name")) + estimate_tokens(json.dumps(block.get("input")))
    if kind == "tool_result":
        return _content_tokens(block.get("content"))
    if kind == "thinking":
        return _text_tokens(block.get("thinking"))
    return estimate_tokens(json.dumps(block))


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return estimate_tokens(content)
    if isinstance(content, list):
        return sum(_block_tokens(b) for b in content if isinstance(b, dict))
    return 0


def input_tokens(params: MessagesParams) -> int:
    total = 3
    if params.system:
        total += 4 + _content_tokens(params.system)
    for message in params.messages:
        total += 4 + _content_tokens(message["content"])
    if params.tools:
        total += estimate_tokens(json.dumps(params.tools))
    return total


# --- answer planning ------------------------------------------------------------------------


def _words(seed: int, count: int) -> str:
    return " ".join(t.strip(" .").lower() for t in generate_tokens(seed, count))


def _schema_value(schema: Any, seed: int, path: str, depth: int) -> Any:
    """A deterministic value that fits `schema`: strings are two words, numbers small ints,
    booleans true, arrays one item, objects every property."""
    sub_seed = zlib.crc32(path.encode(), seed)
    if not isinstance(schema, dict):
        return _words(sub_seed, 2)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return _schema_value(options[0], seed, path, depth)
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind in ("integer", "number"):
        value = 1 + sub_seed % 9
        low, high = schema.get("minimum"), schema.get("maximum")
        if _is_number(low) and value < low:
            value = int(low) if int(low) >= low else int(low) + 1
        if _is_number(high) and value > high:
            value = int(high)
        return value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        if depth >= _MAX_SCHEMA_DEPTH:
            return []
        return [_schema_value(schema.get("items"), seed, path + "[]", depth + 1)]
    if kind == "object":
        properties = schema.get("properties")
        if depth >= _MAX_SCHEMA_DEPTH or not isinstance(properties, dict):
            return {}
        return {
            name: _schema_value(sub, seed, f"{path}.{name}", depth + 1)
            for name, sub in properties.items()
        }
    return _words(sub_seed, 2)


def tool_input(tool: dict[str, Any], seed: int) -> dict[str, Any]:
    value = _schema_value(tool.get("input_schema"), seed, tool["name"], 0)
    return value if isinstance(value, dict) else {}


def _apply_stop_sequences(tokens: list[str], stops: list[str]) -> tuple[list[str], str | None]:
    """Clip the answer before the earliest stop sequence; the deltas that are left."""
    if not stops or not tokens:
        return tokens, None
    text = "".join(tokens)
    best, matched = len(text) + 1, None
    for stop in stops:
        at = text.find(stop)
        if 0 <= at < best:
            best, matched = at, stop
    if matched is None:
        return tokens, None
    clipped: list[str] = []
    start = 0
    for token in tokens:
        if start >= best:
            break
        piece = token[: best - start]
        if piece:
            clipped.append(piece)
        start += len(token)
    return clipped, matched


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]
    json_text: str  # json.dumps(input): what the input_json_delta pieces concatenate to


@dataclass(frozen=True, slots=True)
class Plan:
    text: list[str]  # text deltas (no text block if empty)
    tool: ToolCall | None
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


def plan_answer(call: Call, params: MessagesParams) -> Plan:
    seed = seed_for(
        params.model,
        {"system": params.system, "messages": params.messages, "tools": params.tools},
    )
    forced = params.tool_choice in ("any", "tool") and bool(params.custom_tools)
    wants_tool = bool(params.custom_tools) and (
        forced or (params.tool_choice == "auto" and _wants_tool_directive(call.body))
    )

    text: list[str] = []
    stop_reason, stop_sequence = "end_turn", None
    if not forced:
        wanted = call.faults.tokens
        if wanted is None:
            wanted = call.settings.default_tokens
        limit = wanted if params.max_tokens is None else params.max_tokens
        truncated = limit < wanted
        count = limit if truncated else wanted
        text = generate_tokens(seed, count, final_period=not truncated)
        text, stop_sequence = _apply_stop_sequences(text, params.stop_sequences)
        if stop_sequence is not None:
            stop_reason, wants_tool = "stop_sequence", False
        elif truncated:
            stop_reason, wants_tool = "max_tokens", False

    tool = None
    output = len(text)
    if wants_tool:
        if params.tool_choice == "tool":
            chosen = next(t for t in params.custom_tools if t["name"] == params.tool_name)
        else:
            chosen = params.custom_tools[0]
        arguments = tool_input(chosen, seed)
        json_text = json.dumps(arguments)
        tool = ToolCall(new_id("toolu_"), chosen["name"], arguments, json_text)
        stop_reason = "tool_use"
        output += estimate_tokens(json_text)
    return Plan(text, tool, stop_reason, stop_sequence, input_tokens(params), output)


def _content(plan: Plan) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if plan.text:
        content.append({"type": "text", "text": "".join(plan.text)})
    if plan.tool is not None:
        tool = plan.tool
        content.append({"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool.input})
    return content


# --- responses ------------------------------------------------------------------------------


async def _json_response(call: Call, payload: dict[str, Any]) -> web.StreamResponse:
    """A JSON 200, or its `malformed` / `cut_after` variant (as in openai_common)."""
    body = json.dumps(payload).encode()
    headers = {"request-id": new_id("req_")}
    if call.faults.malformed:
        return web.Response(
            body=body[: len(body) // 2], content_type="application/json", headers=headers
        )
    if call.faults.cut_after is not None:
        return await send_partial(call.request, body, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def messages(call: Call) -> web.StreamResponse:
    try:
        _check_headers(call.request)
        params = parse_request(call.body)
    except InvalidRequest as exc:
        return render_error(exc.info)

    plan = plan_answer(call, params)
    if params.stream:
        return await _stream(call, params, plan)

    rate = call.tokens_per_second
    if rate > 0 and plan.output_tokens:
        await asyncio.sleep(plan.output_tokens / rate)  # as long as the stream would take
    payload = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": params.model,
        "content": _content(plan),
        "stop_reason": plan.stop_reason,
        "stop_sequence": plan.stop_sequence,
        "usage": {
            "input_tokens": plan.input_tokens,
            "output_tokens": plan.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        },
    }
    return await _json_response(call, payload)


def _frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream_frames(params: MessagesParams, plan: Plan) -> tuple[list[tuple[str, bool]], list[str]]:
    """The stream as (frame, is_content_delta) pairs, and the closing frames."""
    frames: list[tuple[str, bool]] = []
    start = {
        "type": "message_start",
        "message": {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": params.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": plan.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,  # what the API reports before any content
            },
        },
    }
    frames.append((_frame("message_start", start), False))
    ping = _frame("ping", {"type": "ping"})
    index = 0

    def open_block(block: dict[str, Any]) -> None:
        frames.append(
            (
                _frame(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                ),
                False,
            )
        )
        if index == 0:  # the API sends its ping after the first block start
            frames.append((ping, False))

    def delta(payload: dict[str, Any]) -> None:
        frames.append(
            (
                _frame(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": payload},
                ),
                True,
            )
        )

    def close_block() -> None:
        frames.append(
            (_frame("content_block_stop", {"type": "content_block_stop", "index": index}), False)
        )

    if plan.text:
        open_block({"type": "text", "text": ""})
        for piece in plan.text:
            delta({"type": "text_delta", "text": piece})
        close_block()
        index += 1
    if plan.tool is not None:
        tool = plan.tool
        open_block({"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}})
        json_text = tool.json_text
        for at in range(0, len(json_text), JSON_PIECE_CHARS):
            piece = json_text[at : at + JSON_PIECE_CHARS]
            delta({"type": "input_json_delta", "partial_json": piece})
        close_block()
        index += 1
    if index == 0:  # no content at all: still a ping, as the API sends one early
        frames.append((ping, False))

    closing = [
        _frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence},
                "usage": {"output_tokens": plan.output_tokens},
            },
        ),
        _frame("message_stop", {"type": "message_stop"}),
    ]
    return frames, closing


_MALFORMED_FRAME = (
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    '"delta":{"type":"text_delta","text":\n\n'
)


async def _stream(call: Call, params: MessagesParams, plan: Plan) -> web.StreamResponse:
    request = call.request
    faults = call.faults
    frames, closing = _stream_frames(params, plan)
    if faults.malformed:
        frames.insert(1, (_MALFORMED_FRAME, False))

    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "request-id": new_id("req_"),
        }
    )
    await response.prepare(request)

    rate = call.tokens_per_second
    paced = rate > 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    cut = faults.cut_after
    buffer: list[str] = []
    sent = 0
    try:
        for frame, is_delta in frames:
            if is_delta:
                if cut is not None and sent >= cut:
                    return await _cut(call, response, buffer)
                if paced:  # what came before goes out now; this delta at its time
                    await response.write("".join(buffer).encode())
                    buffer.clear()
                    delay = started + (sent + 1) / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                sent += 1
            buffer.append(frame)
        if cut is not None:  # asked to cut after more deltas than there are: cut before the end
            return await _cut(call, response, buffer)
        buffer.extend(closing)
        await response.write("".join(buffer).encode())
    except ConnectionError:
        pass  # the client went away; nothing left to tell it
    return response


async def _cut(call: Call, response: web.StreamResponse, buffer: list[str]) -> web.StreamResponse:
    if buffer:
        await response.write("".join(buffer).encode())
    close_connection(call.request)  # no message_delta / message_stop: an aborted stream
    return response


async def count_tokens(call: Call) -> web.StreamResponse:
    try:
        _check_headers(call.request)
        params = parse_request(call.body, count_only=True)
    except InvalidRequest as exc:
        return render_error(exc.info)
    return await _json_response(call, {"input_tokens": input_tokens(params)})


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/messages", messages, render_error, directive=directive, json_body=True),
    Endpoint(
        "POST",
        "/v1/messages/count_tokens",
        count_tokens,
        render_error,
        directive=directive,
        json_body=True,
    ),
]
