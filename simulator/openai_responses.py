"""OpenAI Responses API: `POST /v1/responses`, streamed or not (PROTOCOLS.md §2).

A Responses request is answered as its *equivalent chat request* would be (see
`chat_messages`): `instructions` becomes a leading system message, a string `input` a user
message, message items keep their role (their `input_text`/`output_text` parts become text
parts, images and files image/file parts), `function_call` items become `tool_calls` of an
assistant message (joined to the assistant message just before, if any) and
`function_call_output` items `tool` messages; other item types (reasoning, item_reference,
hosted tool calls) are left out. The answer is then planned by `openai_chat.plan_answer`, so:

* Text is deterministic (seeded by model + those chat messages) and one word is one token:
  `usage.output_tokens` equals the number of `response.output_text.delta` events. The length
  is the server default (32 words) or the directive's `tokens=`; `max_output_tokens` below it
  truncates the text (no final period) and the response is `status: "incomplete"`,
  `incomplete_details: {"reason": "max_output_tokens"}`, its message item `incomplete`.
* `usage.input_tokens` is what `openai_chat.prompt_tokens` counts for those chat messages plus
  ceil(len(json.dumps(tools)) / 4) for the request's own (flat) `tools`. The text, a call's
  `call_id` and `arguments` and `output_tokens` equal the chat endpoint's answer to the
  equivalent request, and so does `input_tokens` without tools (chat counts its nested tool
  shape). `cached_tokens` and `reasoning_tokens` are always 0; no reasoning items are made.
* Function calls follow the chat rules: `tool_choice` `"required"` or
  `{"type": "function", "name": ...}` answers one `function_call` item only (the named or else
  the first function tool); with `auto` (the default), the bare word `tool` in the last user
  message's directive (`[sim tool]`) gives the usual message item then a call to the first
  function tool (`[sim tool tokens=0]`: the call only), unless `max_output_tokens` truncates
  the text (then no call, status incomplete). The word only counts while that user message
  is the last input item, so after a `function_call_output` the answer is text. `none` never
  calls. A call is `{"type": "function_call", "id": "fc_...", "call_id": "call_<24 hex>",
  "name", "arguments", "status": "completed"}`; `arguments` is `json.dumps` of
  `anthropic_messages.tool_input` over the tool's `parameters` and adds ceil(len / 4) output
  tokens; same request, same call_id and arguments, streamed or not. Hosted tools (web_search,
  file_search, custom, local_shell, ...) are accepted and never called.
* `text.format` `json_object` / `json_schema` answer JSON exactly as the chat module's
  `response_format` does (`{"answer": <text>}` at words + 4 tokens; or `tool_input` over
  `text.format.schema`).
* Streams: `response.created` and `response.in_progress` (status in_progress, no usage), then
  per output item `response.output_item.added`; for the message `response.content_part.added`,
  one `response.output_text.delta` per token, `response.output_text.done`,
  `response.content_part.done`; for a call `response.function_call_arguments.delta` pieces of
  at most `openai_chat.JSON_PIECE_CHARS` (12) characters, then `.done`; then
  `response.output_item.done`; finally `response.completed` (or `response.incomplete`)
  carrying the whole response with usage. Every frame is `event: <type>` + `data: <json>`
  with an increasing `sequence_number`; no `[DONE]`.
* Faults: a `status` fault is an OpenAI error envelope before any event (with `retry-after`
  on 429 or when `retry_after` is set). `cut_after=N` closes a stream after N deltas (text or
  argument pieces; with more than there are, just before the terminal event) or sends half of
  a plain body. `malformed` truncates a plain body or adds one unparsable `data:` line after
  `response.created`. `tokens_per_second` paces deltas like the chat module.
* Validation (400, OpenAI envelope with `param` and `code`): unknown top-level fields
  (`unknown_parameter`); `model` missing or not a non-empty string; `input` missing, empty or
  not a string/array; an item that is not an object, of an unknown `type`, a message with a
  missing or unknown `role`, missing or non-string/array `content`, a part of a type its role
  may not use (user/system/developer: input_text, input_image, input_file; assistant:
  output_text, refusal) or without its text; a `function_call` without string `call_id`,
  `name`, `arguments`; a `function_call_output` without `call_id` or `output`; a
  `function_call_output` with no earlier `function_call` of that call_id, or a
  `function_call` never answered (both skipped with `previous_response_id`); `tools` not an
  array, a tool without a known `type`, a function without a valid `name` or with non-object
  `parameters`; `tool_choice` not none/auto/required/a function object, `required` or a
  function without tools, naming an undeclared function; `max_output_tokens` not an integer
  >= 1; `temperature` outside 0..2, `top_p` outside 0..1; non-boolean `stream`, `store`,
  `parallel_tool_calls`; `metadata` not an object of strings; `text.format` with an unknown
  type or a json_schema without `name` / `schema`; `instructions`, `reasoning`, `include`
  of the wrong type.
* Not simulated: stored responses (`previous_response_id`, `conversation`, `prompt`,
  `background` are accepted and ignored; GET/DELETE `/v1/responses/{id}` are 404 like any
  unknown URL), reasoning output and summaries, refusals, hosted tools, parallel calls (at
  most one call per response), `tool_choice` `allowed_tools`/hosted types, strict-schema
  checks, any floor above 1 the real API may put on `max_output_tokens` (reportedly 16).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator import openai_chat
from simulator.endpoint import Call, Endpoint
from simulator.faults import close_connection
from simulator.jsonshape import is_int as _is_int
from simulator.jsonshape import is_number as _is_number
from simulator.jsonshape import json_type as _json_type
from simulator.openai_chat import (
    Answer,
    ChatParams,
    InvalidRequest,
    plan_answer,
    prompt_tokens,
    split_pieces,
)
from simulator.openai_common import json_response, new_id, render_error
from simulator.textgen import seed_for

ROLES = ("user", "assistant", "system", "developer")
_ROLE_LIST = "'user', 'assistant', 'system', and 'developer'"
_INPUT_PARTS = ("input_text", "input_image", "input_file")
_OUTPUT_PARTS = ("output_text", "refusal")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TOOL_CHOICES = ("none", "auto", "required")
_TEXT_FORMATS = ("text", "json_object", "json_schema")

# Item types the API accepts in `input`. Only the first three are checked in detail (and take
# part in the answer); the others are passed over so a gateway replaying, say, Codex's
# reasoning items is not rejected by the simulator.
_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
    "compaction",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "web_search_call",
    "tool_search_call",
    "tool_search_output",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "custom_tool_call",
    "custom_tool_call_output",
)
# Tool types the API knows; only `function` tools are ever called here.
_TOOL_TYPES = (
    "function",
    "custom",
    "file_search",
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "computer",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "local_shell",
    "shell",
    "apply_patch",
    "mcp",
    "namespace",
    "tool_search",
)
# Every top-level field of the SDK's ResponseCreateParams (openai 3.x); others are a 400.
KNOWN_PARAMS = frozenset(
    {
        "access_programs",
        "background",
        "background_options",
        "context_management",
        "conversation",
        "image",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)


def _values(options: tuple[str, ...]) -> str:
    quoted = [f"'{o}'" for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _wrong_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _bad_value(param: str, value: Any, options: tuple[str, ...]) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid value: {json.dumps(value)}. Supported values are: {_values(options)}.",
        param=param,
        code="invalid_value",
    )


# --- the equivalent chat request -------------------------------------------------------------


def _chat_part(part: Any) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text")}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal")}
    if kind == "input_image":
        return {"type": "image_url", "image_url": {"url": part.get("image_url")}}
    if kind == "input_file":
        return {"type": "file", "file": {"filename": part.get("filename")}}
    return None


def _chat_content(content: Any) -> Any:
    if isinstance(content, list):
        return [p for p in map(_chat_part, content) if p is not None]
    return content


def chat_messages(body: Any) -> list[dict[str, Any]]:
    """The messages of the chat request equivalent to a Responses body (tolerant of invalid
    bodies: the directive is read before validation)."""
    if not isinstance(body, dict):
        return []
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    if not isinstance(items, list):
        return messages
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            content = _chat_content(item.get("content"))
            messages.append({"role": item.get("role"), "content": content})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = _chat_content(item.get("output"))
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": output}
            )
    return messages


def directive(body: Any) -> str | None:
    """The fault part of a `[sim ...]` directive in the last user message, if any."""
    return openai_chat.directive({"messages": chat_messages(body)})


# --- request validation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponsesParams:
    model: str
    messages: list[dict[str, Any]]  # the equivalent chat request's
    stream: bool
    max_output_tokens: int | None
    functions: tuple[dict[str, Any], ...]  # the declared function tools
    tool_choice: str  # none | auto | required | function
    tool_name: str | None
    text_format: str  # text | json_object | json_schema
    schema: Any
    schema_name: str
    echo: dict[str, Any]  # request settings the response object repeats

    def chat(self) -> ChatParams:
        return ChatParams(
            model=self.model,
            messages=self.messages,
            stream=self.stream,
            include_usage=True,
            n=1,
            max_tokens=self.max_output_tokens,
            tools=self.functions,
            tool_choice=self.tool_choice,
            tool_name=self.tool_name,
            response_format=self.text_format,
            response_schema=self.schema,
            response_name=self.schema_name,
        )


def _check_parts(content: list[Any], role: str, path: str) -> None:
    allowed = _OUTPUT_PARTS if role == "assistant" else _INPUT_PARTS
    for j, part in enumerate(content):
        here = f"{path}[{j}]"
        if not isinstance(part, dict):
            raise _wrong_type(here, "an object", part)
        kind = part.get("type")
        if kind is None:
            raise _missing(f"{here}.type")
        if kind not in allowed:
            raise _bad_value(f"{here}.type", kind, allowed)
        if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise _missing(f"{here}.text")
        if kind == "refusal" and not isinstance(part.get("refusal"), str):
            raise _missing(f"{here}.refusal")
        if kind == "input_image" and not any(
            isinstance(part.get(k), str) for k in ("image_url", "file_id")
        ):
            raise _missing(f"{here}.image_url")


def _check_message(item: dict[str, Any], path: str) -> None:
    role = item.get("role")
    if role is None:
        raise _missing(f"{path}.role")
    if role not in ROLES:
        raise InvalidRequest(
            f"Invalid value: {json.dumps(role)}. Supported values are: {_ROLE_LIST}.",
            param=f"{path}.role",
            code="invalid_value",
        )
    if item.get("content") is None:
        raise _missing(f"{path}.content")
    content = item["content"]
    if isinstance(content, list):
        _check_parts(content, role, f"{path}.content")
    elif not isinstance(content, str):
        raise _wrong_type(f"{path}.content", "one of a string or array of objects", content)


def _check_input(items: Any, *, paired: bool) -> None:
    if items is None:
        raise _missing("input")
    if isinstance(items, str):
        return
    if not isinstance(items, list):
        raise _wrong_type("input", "one of a string or array of input items", items)
    if not items:
        raise InvalidRequest(
            "Invalid 'input': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="input",
            code="empty_array",
        )
    calls: list[str] = []
    answered: set[str] = set()
    for i, item in enumerate(items):
        path = f"input[{i}]"
        if not isinstance(item, dict):
            raise _wrong_type(path, "an object", item)
        kind = item.get("type", "message")
        if kind not in _ITEM_TYPES:
            raise _bad_value(f"{path}.type", kind, _ITEM_TYPES)
        if kind == "message":
            _check_message(item, path)
        elif kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                if not isinstance(item.get(name), str):
                    raise _missing(f"{path}.{name}")
            calls.append(item["call_id"])
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise _missing(f"{path}.call_id")
            output = item.get("output")
            if output is None:
                raise _missing(f"{path}.output")
            if isinstance(output, list):
                _check_parts(output, "user", f"{path}.output")
            elif not isinstance(output, str):
                raise _wrong_type(f"{path}.output", "one of a string or array of objects", output)
            if paired and call_id not in calls:
                raise InvalidRequest(
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            answered.add(call_id)
    if paired:
        for call_id in calls:
            if call_id not in answered:
                raise InvalidRequest(
                    f"No tool output found for function call {call_id}.", param="input"
                )


def _check_tools(tools: Any) -> tuple[list[dict[str, Any]], tuple[dict[str, Any], ...]]:
    if tools is None:
        return [], ()
    if not isinstance(tools, list):
        raise _wrong_type("tools", "an array", tools)
    functions: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _wrong_type(path, "an object", tool)
        kind = tool.get("type")
        if kind is None:
            raise _missing(f"{path}.type")
        if kind not in _TOOL_TYPES:
            raise _bad_value(f"{path}.type", kind, _TOOL_TYPES)
        if kind != "function":
            continue  # a hosted or custom tool: accepted, never called
        name = tool.get("name")
        if name is None:
            raise _missing(f"{path}.name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise InvalidRequest(
                f"Invalid '{path}.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                param=f"{path}.name",
                code="invalid_value",
            )
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _wrong_type(f"{path}.parameters", "an object", parameters)
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise _wrong_type(f"{path}.description", "a string", description)
        strict = tool.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise _wrong_type(f"{path}.strict", "a boolean", strict)
        functions.append(tool)
    return tools, tuple(functions)


def _check_tool_choice(
    choice: Any, tools: list[dict[str, Any]], functions: tuple[dict[str, Any], ...]
) -> tuple[str, str | None]:
    if choice is None:
        return "auto", None
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise _bad_value("tool_choice", choice, _TOOL_CHOICES)
        if choice == "required" and not tools:
            raise InvalidRequest(
                "Tool choice 'required' must be specified with 'tools' parameter.",
                param="tool_choice",
            )
        return choice, None
    if not isinstance(choice, dict) or choice.get("type") != "function":
        raise InvalidRequest(
            "Invalid 'tool_choice': expected 'none', 'auto', 'required' or an object "
            '{"type": "function", "name": ...} (the simulator supports no other tool choice).',
            param="tool_choice",
            code="invalid_value",
        )
    name = choice.get("name")
    if not isinstance(name, str):
        raise _missing("tool_choice.name")
    if name not in {f["name"] for f in functions}:
        raise InvalidRequest(
            f"Tool choice 'function' not found in 'tools' parameter: no function named "
            f"'{name}' is declared.",
            param="tool_choice",
            code="invalid_value",
        )
    return "function", name


def _check_text(text: Any) -> tuple[dict[str, Any], str, Any, str]:
    """The echoed text config, the format type, its schema and its name."""
    if text is None:
        return {"format": {"type": "text"}, "verbosity": "medium"}, "text", None, "response"
    if not isinstance(text, dict):
        raise _wrong_type("text", "an object", text)
    verbosity = text.get("verbosity")
    if verbosity is not None and verbosity not in ("low", "medium", "high"):
        raise _bad_value("text.verbosity", verbosity, ("low", "medium", "high"))
    fmt = text.get("format")
    echo = {"format": {"type": "text"}, "verbosity": verbosity or "medium"}
    if fmt is None:
        return echo, "text", None, "response"
    if not isinstance(fmt, dict):
        raise _wrong_type("text.format", "an object", fmt)
    kind = fmt.get("type")
    if kind is None:
        raise _missing("text.format.type")
    if kind not in _TEXT_FORMATS:
        raise _bad_value("text.format.type", kind, _TEXT_FORMATS)
    echo["format"] = fmt
    if kind != "json_schema":
        return echo, kind, None, "response"
    name = fmt.get("name")
    if name is None:
        raise _missing("text.format.name")
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        raise InvalidRequest(
            "Invalid 'text.format.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
            param="text.format.name",
            code="invalid_value",
        )
    schema = fmt.get("schema")
    if schema is None:
        raise _missing("text.format.schema")
    if not isinstance(schema, dict):
        raise _wrong_type("text.format.schema", "an object", schema)
    return echo, kind, schema, name


def _check_number(body: dict[str, Any], name: str, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_number(value):
        raise _wrong_type(name, "a number", value)
    if not 0 <= value <= high:
        raise InvalidRequest(
            f"Invalid '{name}': expected a number between 0 and {high:g}, but got {value!r}.",
            param=name,
            code="invalid_value",
        )
    return value


def _check_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _wrong_type(name, "a boolean", value)
    return value


def parse_request(body: Any) -> ResponsesParams:
    """Validate like api.openai.com does (same messages, params and codes where we know them)."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}.",
            code="invalid_type",
        )
    for key in body:
        if key not in KNOWN_PARAMS:
            raise InvalidRequest(
                f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter"
            )
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model:
        raise _wrong_type("model", "a non-empty string", model)

    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise _wrong_type("previous_response_id", "a string", previous)
    _check_input(body.get("input"), paired=previous is None)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _wrong_type("instructions", "a string", instructions)

    stream = _check_bool(body, "stream")
    store = _check_bool(body, "store")
    parallel = _check_bool(body, "parallel_tool_calls")
    max_output = body.get("max_output_tokens")
    if max_output is not None:
        if not _is_int(max_output):
            raise _wrong_type("max_output_tokens", "an integer", max_output)
        if max_output < 1:
            raise InvalidRequest(
                "Invalid 'max_output_tokens': integer below minimum value. "
                f"Expected a value >= 1, but got {max_output} instead.",
                param="max_output_tokens",
                code="integer_below_min_value",
            )
    temperature = _check_number(body, "temperature", 2)
    top_p = _check_number(body, "top_p", 1)

    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise _wrong_type("metadata", "an object with string values", metadata)
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise _wrong_type("reasoning", "an object", reasoning)
    include = body.get("include")
    if include is not None and (
        not isinstance(include, list) or not all(isinstance(v, str) for v in include)
    ):
        raise _wrong_type("include", "an array of strings", include)

    tools, functions = _check_tools(body.get("tools"))
    tool_choice, tool_name = _check_tool_choice(body.get("tool_choice"), tools, functions)
    text, text_format, schema, schema_name = _check_text(body.get("text"))

    reasoning = reasoning or {}
    echo = {
        "instructions": instructions,
        "max_output_tokens": max_output,
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": metadata or {},
        "parallel_tool_calls": True if parallel is None else parallel,
        "previous_response_id": previous,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": True if store is None else store,
        "temperature": 1.0 if temperature is None else temperature,
        "text": text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": tools,
        "top_p": 1.0 if top_p is None else top_p,
        "truncation": body.get("truncation") or "disabled",
        "user": body.get("user"),
    }
    return ResponsesParams(
        model=model,
        messages=chat_messages(body),
        stream=bool(stream),
        max_output_tokens=max_output,
        functions=functions,
        tool_choice=tool_choice,
        tool_name=tool_name,
        text_format=text_format,
        schema=schema,
        schema_name=schema_name,
        echo=echo,
    )


# --- the answer ------------------------------------------------------------------------------


def plan(call: Call, params: ResponsesParams) -> Answer:
    """The chat module's answer to the equivalent chat request (one choice)."""
    wanted = call.faults.tokens
    if wanted is None:
        wanted = call.settings.default_tokens
    seed = seed_for(params.model, params.messages)
    forced = bool(params.functions) and params.tool_choice in ("required", "function")
    wants_tool = forced or (
        bool(params.functions)
        and params.tool_choice == "auto"
        and openai_chat.wants_tool_directive({"messages": params.messages})
    )
    return plan_answer(params.chat(), seed, wanted, wants_tool, forced)


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


@dataclass(slots=True)
class _Output:
    """The ids and final items of one response."""

    response_id: str
    created_at: int
    status: str  # completed | incomplete
    items: list[dict[str, Any]]
    usage: dict[str, Any]


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _build_output(answer: Answer, usage: dict[str, Any]) -> _Output:
    status = "incomplete" if answer.finish_reason == "length" else "completed"
    items: list[dict[str, Any]] = []
    text = answer.content
    if text is not None:
        items.append(
            {
                "type": "message",
                "id": new_id("msg_"),
                "status": status,
                "role": "assistant",
                "content": [_output_text(text)],
            }
        )
    tool = answer.tool
    if tool is not None:
        items.append(
            {
                "type": "function_call",
                "id": new_id("fc_"),
                "call_id": tool.id,
                "name": tool.name,
                "arguments": tool.arguments,
                "status": "completed",
            }
        )
    return _Output(new_id("resp_"), int(time.time()), status, items, usage)


def _response(params: ResponsesParams, out: _Output, *, final: bool) -> dict[str, Any]:
    """The response object; before the end (`final=False`) in_progress, empty, no usage."""
    status = out.status if final else "in_progress"
    incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
    return {
        "id": out.response_id,
        "object": "response",
        "created_at": out.created_at,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": None,
        "incomplete_details": incomplete,
        "model": params.model,
        "output": out.items if final else [],
        "service_tier": "default",
        "top_logprobs": 0,
        "usage": out.usage if final else None,
        **params.echo,
    }


async def responses(call: Call) -> web.StreamResponse:
    try:
        params = parse_request(call.body)
    except InvalidRequest as exc:
        return render_error(exc.info)

    answer = plan(call, params)
    usage = _usage(prompt_tokens(params.messages, call.body.get("tools")), answer.tokens)
    out = _build_output(answer, usage)
    if params.stream:
        return await _stream(call, params, answer, out)

    rate = call.tokens_per_second
    if rate > 0 and answer.tokens:
        await asyncio.sleep(answer.tokens / rate)  # the whole answer takes as long as a stream
    return await json_response(call, _response(params, out, final=True))


# --- streaming -------------------------------------------------------------------------------


class _Frames:
    """SSE frames with increasing sequence numbers, each with the tokens it spends (0: not a
    delta, so neither paced nor counted by `cut_after`)."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, float]] = []
        self.sequence = 0

    def render(self, kind: str, data: dict[str, Any]) -> str:
        payload = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"

    def add(self, kind: str, data: dict[str, Any], weight: float = 0.0) -> None:
        self.frames.append((self.render(kind, data), weight))


def _stream_frames(params: ResponsesParams, answer: Answer, out: _Output) -> _Frames:
    """Every frame up to the last `response.output_item.done` (not the terminal event)."""
    frames = _Frames()
    opening = _response(params, out, final=False)
    frames.add("response.created", {"response": opening})
    frames.add("response.in_progress", {"response": opening})
    index = 0
    for item in out.items:
        where = {"output_index": index, "item_id": item["id"]}
        if item["type"] == "message":
            added = {**item, "status": "in_progress", "content": []}
            frames.add("response.output_item.added", {"output_index": index, "item": added})
            part = {**where, "content_index": 0}
            frames.add("response.content_part.added", {**part, "part": _output_text("")})
            for piece in answer.pieces:
                delta = {**part, "delta": piece, "logprobs": []}
                weight = len(piece) / 4 if answer.json_pieces else 1.0
                frames.add("response.output_text.delta", delta, weight)
            text = item["content"][0]["text"]
            frames.add("response.output_text.done", {**part, "text": text, "logprobs": []})
            frames.add("response.content_part.done", {**part, "part": item["content"][0]})
        else:
            added = {**item, "status": "in_progress", "arguments": ""}
            frames.add("response.output_item.added", {"output_index": index, "item": added})
            for piece in split_pieces(item["arguments"]):
                frames.add(
                    "response.function_call_arguments.delta",
                    {**where, "delta": piece},
                    len(piece) / 4,
                )
            frames.add(
                "response.function_call_arguments.done", {**where, "arguments": item["arguments"]}
            )
        frames.add("response.output_item.done", {"output_index": index, "item": item})
        index += 1
    return frames


_MALFORMED_FRAME = (
    'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    '"output_index":0,"content_index":0,"delta":\n\n'
)


async def _stream(
    call: Call, params: ResponsesParams, answer: Answer, out: _Output
) -> web.StreamResponse:
    request = call.request
    faults = call.faults
    stream = _stream_frames(params, answer, out)
    frames = stream.frames
    if faults.malformed:
        frames.insert(1, (_MALFORMED_FRAME, 0.0))

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
    buffer: list[str] = []
    sent = 0
    spent = 0.0  # tokens streamed so far, for pacing
    try:
        for frame, weight in frames:
            if weight:
                if cut is not None and sent >= cut:
                    return await _cut(call, response, buffer)
                if paced:  # what came before goes out now; this delta at its time
                    await response.write("".join(buffer).encode())
                    buffer.clear()
                    spent += weight
                    delay = started + spent / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                sent += 1
            buffer.append(frame)
        if cut is not None:  # asked to cut after more deltas than there are: cut before the end
            return await _cut(call, response, buffer)
        terminal = "response.completed" if out.status == "completed" else "response.incomplete"
        buffer.append(stream.render(terminal, {"response": _response(params, out, final=True)}))
        await response.write("".join(buffer).encode())
    except ConnectionError:
        pass  # the client went away; nothing left to tell it
    return response


async def _cut(call: Call, response: web.StreamResponse, buffer: list[str]) -> web.StreamResponse:
    if buffer:
        await response.write("".join(buffer).encode())
    close_connection(call.request)  # no response.completed: an aborted stream
    return response


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/responses", responses, render_error, directive=directive, json_body=True),
]
