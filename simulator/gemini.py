"""Google Gemini API: `POST /v1beta/models/{model}:generateContent` and
`POST /v1beta/models/{model}:streamGenerateContent` (SSE with `?alt=sse`, else a JSON array).

Wire shapes follow /work/shared/PROTOCOLS.md §6; where it is silent (validation texts, what is
rejected, how usage grows in a stream), this follows the public Gemini REST API as we know it
and says so next to the code.

Behaviour (what a gateway adapter can rely on):

* URLs: both endpoints at the root and under `/s/<scope>/v1beta/models/...`. Any model name
  (no `/`) exists; it comes back as `modelVersion`. Any other `/v1beta/...` URL is a 404
  `NOT_FOUND` in Google's envelope.
* Auth: `x-goog-api-key` header or `?key=` (any non-empty value). Neither, but an
  `Authorization` header: 401 `UNAUTHENTICATED` (the API wants an API key or an OAuth token, and
  rejects API keys sent as bearer tokens); nothing at all: 403 `PERMISSION_DENIED` (what Google
  answers to "unregistered callers").
* Request keys may be camelCase or snake_case (proto JSON accepts both). Unknown top-level and
  `generationConfig` keys are a 400 (`Invalid JSON payload received. Unknown name ...`), as
  Google rejects them: an adapter leaking OpenAI fields (`max_tokens`, `messages`) is caught.
* Text answers are deterministic (seeded by model + systemInstruction + contents + tools) and
  every output token is one word: `candidatesTokenCount` equals the number of words.
  `maxOutputTokens` below the answer length truncates it (`finishReason: "MAX_TOKENS"`, no final
  period). A `stopSequences` entry found in the text ends it before the sequence (`STOP`); then
  `candidatesTokenCount` is the number of (possibly clipped) words kept. Only
  `candidateCount: 1` is supported (anything else is a 400).
* `promptTokenCount` = 3 + (4 + Σ part tokens of `systemInstruction`, if given) + Σ contents
  (4 + Σ part tokens) + ceil(len(json.dumps(tools)) / 4) if `tools` is given. Part tokens: text
  ceil(chars / 4) (0 for ""), `inlineData`/`fileData` 85 (the chat module's image price),
  `functionCall` ceil(len(name)/4) + ceil(len(json.dumps(args))/4), `functionResponse`
  ceil(len(name)/4) + ceil(len(json.dumps(response))/4), any other part
  ceil(len(json.dumps(part))/4). A text-only request counts what the equivalent chat request
  (system message + messages) counts. `totalTokenCount` = prompt + candidates; no thoughts or
  cached tokens. `promptTokensDetails` splits the prompt into TEXT (everything but media) and
  IMAGE (85 per media part) when there is any.
* Function calling: declarations come from every `tools[].functionDeclarations` (other tools,
  e.g. `googleSearch`, are accepted and never called). With `functionCallingConfig.mode: "ANY"`
  the answer is one `functionCall` part and nothing else; the function is the first of
  `allowedFunctionNames`, else the first declaration. With `AUTO` (the default) the directive
  `[sim tool]` in the last user content's text gives the usual text part then a `functionCall`
  part for the first declaration; `NONE` never calls. The part is
  `{"functionCall": {"name": ..., "args": {...}}}` (no id, like the classic API); `args` is built
  from `parameters` (or `parametersJsonSchema`; type names in any case) exactly like the
  Anthropic module's tool input: same request, same args, streamed or not. `finishReason` stays
  `STOP`; `candidatesTokenCount` adds ceil(len(json.dumps(args)) / 4). A last user content
  holding only `functionResponse` parts has no directive, so a tool loop ends with text.
* Streams (`alt=sse`): `data: {GenerateContentResponse}` + blank line per event, no `event:`
  lines, no `[DONE]`. One event per word: `candidates[0].content.parts == [{"text": word}]`,
  `role: "model"`, `index: 0`, no `finishReason`. Then one final event whose part is the
  `functionCall` (if any) or `{"text": ""}`, with `finishReason`. *Every* event carries
  `usageMetadata` with the prompt count and the cumulative `candidatesTokenCount` so far (the
  final event's equals the non-stream usage: take the last one seen, never sum), plus
  `modelVersion` and one `responseId` shared by all events. Joined text = non-stream text.
  Without `alt=sse` the same objects come as one JSON array (`[` obj `,\r\n` obj ... `]`).
* Errors: `{"error": {"code": <http status>, "message": ..., "status": <RPC status name>}}`
  (400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND,
  429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, ...). A 429 also
  has `retry-after` and a `google.rpc.RetryInfo` detail. A `code` fault that is an RPC status
  name (e.g. FAILED_PRECONDITION) replaces `error.status`; any other code becomes the `reason`
  of a `google.rpc.ErrorInfo` detail (`status=400,code=API_KEY_INVALID` is Google's bad-key
  answer, with its message).
* Faults: `status` answers the envelope above (before any stream starts). `cut_after=N` closes
  a stream after N text events (if there are fewer, before the final event), or sends half of a
  plain body. `malformed` truncates a plain body, or puts one unparsable event first in a
  stream.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web

from simulator.anthropic_messages import _apply_stop_sequences, tool_input
from simulator.endpoint import Call, Endpoint
from simulator.faults import (
    ErrorInfo,
    close_connection,
    find_directive,
    retry_after_headers,
    send_partial,
    split_tool_word,
)
from simulator.openai_common import new_id
from simulator.textgen import estimate_tokens, generate_tokens, seed_for

_T = "type.googleapis.com/google.ai.generativelanguage.v1beta."  # proto type names in errors
_MEDIA_PART_TOKENS = 85  # same flat price as the chat and Anthropic modules' images
_MAX_STOP_SEQUENCES = 5
_URLSAFE = str.maketrans("-_", "+/")
_MODES = ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED")
# Google's rule for function names: letter or underscore first, then [a-zA-Z0-9_.:-], max 64.
_FUNCTION_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:\-]{0,63}")
_DATA_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_TOP_LEVEL = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
    }
)
_GENERATION_CONFIG = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
    }
)


# --- errors ---------------------------------------------------------------------------------

# status -> (RPC status name, message). Names from PROTOCOLS.md §6; texts modelled on Google's.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_RPC_STATUSES = frozenset(
    {name for name, _ in _ERRORS.values()}
    | {"OK", "UNKNOWN", "ALREADY_EXISTS", "FAILED_PRECONDITION", "OUT_OF_RANGE", "DATA_LOSS"}
)
_BAD_KEY_MESSAGE = "API key not valid. Please pass a valid API key."


def error_body(info: ErrorInfo) -> dict[str, Any]:
    status_name, message = _ERRORS.get(info.status, ("UNKNOWN", "Simulated error."))
    details: list[dict[str, Any]] = []
    if info.code in _RPC_STATUSES:
        status_name = info.code
    elif info.code:
        if info.code == "API_KEY_INVALID":
            message = _BAD_KEY_MESSAGE
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": info.code,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    if info.status == 429:
        delay = 1 if info.retry_after is None else info.retry_after
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"}
        )
    error: dict[str, Any] = {
        "code": info.status,
        "message": info.message or message,
        "status": status_name,
    }
    if details:
        error["details"] = details
    return {"error": error}


def render_error(info: ErrorInfo) -> web.Response:
    return web.Response(
        status=info.status,
        body=json.dumps(error_body(info)).encode(),
        content_type="application/json",
        charset="UTF-8",
        headers=retry_after_headers(info),
    )


class InvalidArgument(Exception):
    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.info = ErrorInfo(status, message)


# --- request validation ---------------------------------------------------------------------
# Texts follow Google's two styles: "* GenerateContentRequest.<path>: <problem>\n" for semantic
# checks and "Invalid value at '<snake_path>' (<TYPE>), <value>" for JSON type errors.


@lru_cache(maxsize=256)
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


@lru_cache(maxsize=256)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _get(obj: dict[str, Any], name: str) -> Any:
    """`obj[name]` by its camelCase name or its snake_case spelling."""
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bad_value(path: str, kind: str, value: Any) -> InvalidArgument:
    return InvalidArgument(f"Invalid value at '{path}' ({kind}), {json.dumps(value)}")


def _check_unknown(obj: dict[str, Any], known: frozenset[str], where: str | None) -> None:
    for key in obj:
        if key not in known and _camel(key) not in known:
            at = "" if where is None else f" at '{where}'"
            raise InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
            )


def _check_part(part: Any, path: str, snake_path: str) -> None:
    if not isinstance(part, dict):
        raise _bad_value(snake_path, _T + "Part", part)
    present = [f for f in _DATA_FIELDS if _get(part, f) is not None]
    if not present:
        raise InvalidArgument(
            f"* GenerateContentRequest.{path}.data: required oneof field 'data' must have one "
            "initialized field\n"
        )
    if len(present) > 1:
        raise InvalidArgument(
            f"* GenerateContentRequest.{path}.data: oneof field 'data' is already set. Cannot "
            f"set '{_snake(present[1])}'\n"
        )
    field = present[0]
    value = _get(part, field)
    if field == "text":
        if not isinstance(value, str):
            raise _bad_value(f"{snake_path}.text", "TYPE_STRING", value)
    elif field == "inlineData":
        if not isinstance(value, dict):
            raise _bad_value(f"{snake_path}.inline_data", _T + "Blob", value)
        mime = _get(value, "mimeType")
        if not isinstance(mime, str) or not mime:
            raise InvalidArgument(
                f"* GenerateContentRequest.{path}.inline_data.mime_type: a mime_type is required\n"
            )
        data = value.get("data")
        if not isinstance(data, str):
            raise _bad_value(f"{snake_path}.inline_data.data", "TYPE_BYTES", data)
        try:  # proto JSON bytes: standard or URL-safe base64, padded or not
            base64.b64decode(data.translate(_URLSAFE) + "=" * (-len(data) % 4), validate=True)
        except binascii.Error:
            raise InvalidArgument(
                f"Invalid value at '{snake_path}.inline_data.data' (TYPE_BYTES), Base64 "
                f"decoding failed for {json.dumps(data[:40])}"
            ) from None
    elif field == "fileData":
        if not isinstance(value, dict) or not isinstance(_get(value, "fileUri"), str):
            raise InvalidArgument(
                f"* GenerateContentRequest.{path}.file_data.file_uri: a file_uri is required\n"
            )
    elif field == "functionCall":
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise InvalidArgument(
                f"* GenerateContentRequest.{path}.function_call.name: Name cannot be empty.\n"
            )
        args = value.get("args")
        if args is not None and not isinstance(args, dict):
            raise _bad_value(
                f"{snake_path}.function_call.args",
                "type.googleapis.com/google.protobuf.Struct",
                args,
            )
    elif field == "functionResponse":
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise InvalidArgument(
                f"* GenerateContentRequest.{path}.function_response.name: Name cannot be empty.\n"
            )
        if not isinstance(value.get("response"), dict):
            raise InvalidArgument(
                f"* GenerateContentRequest.{path}.function_response.response: response is "
                "required and must be an object\n"
            )


def _check_parts(content: dict[str, Any], path: str, snake_path: str) -> list[dict[str, Any]]:
    parts = content.get("parts")
    if parts is None or parts == []:
        raise InvalidArgument(
            f"* GenerateContentRequest.{path}.parts: contents.parts must not be empty.\n"
        )
    if not isinstance(parts, list):
        raise _bad_value(f"{snake_path}.parts", _T + "Part", parts)
    for j, part in enumerate(parts):
        _check_part(part, f"{path}.parts[{j}]", f"{snake_path}.parts[{j}]")
    return parts


def _check_contents(contents: Any) -> list[dict[str, Any]]:
    if contents is None or contents == []:
        raise InvalidArgument("* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        raise _bad_value("contents", _T + "Content", contents)
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise _bad_value(f"contents[{i}]", _T + "Content", content)
        role = content.get("role")
        if role is not None and role not in ("user", "model", ""):
            raise InvalidArgument("Please use a valid role: user, model.")
        _check_parts(content, f"contents[{i}]", f"contents[{i}]")
    return contents


def _check_system(system: Any) -> dict[str, Any] | None:
    if system is None:
        return None
    if not isinstance(system, dict):
        raise _bad_value("system_instruction", _T + "Content", system)
    parts = _check_parts(system, "system_instruction", "system_instruction")
    for j, part in enumerate(parts):
        if _get(part, "text") is None:
            raise InvalidArgument(
                f"* GenerateContentRequest.system_instruction.parts[{j}]: system instruction "
                "parts must be text\n"
            )
    return system


def _normalise_schema(schema: Any) -> Any:
    """Gemini's OpenAPI subset spells types in upper case (`STRING`); the shared generator
    expects JSON Schema's lower case."""
    if isinstance(schema, list):
        return [_normalise_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for raw_key, value in schema.items():
        key = _camel(raw_key)  # any_of -> anyOf, as the shared generator reads it
        if key == "type":
            if isinstance(value, str):
                value = value.lower()
            elif isinstance(value, list):
                value = [v.lower() if isinstance(v, str) else v for v in value]
        elif key == "properties" and isinstance(value, dict):
            value = {name: _normalise_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf"):
            value = _normalise_schema(value)
        out[key] = value
    return out


def _check_tools(tools: Any) -> list[dict[str, Any]]:
    """The function declarations of all `tools` entries, validated."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad_value("tools", _T + "Tool", tools)
    declarations: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad_value(f"tools[{i}]", _T + "Tool", tool)
        found = _get(tool, "functionDeclarations")
        if found is None:
            continue  # googleSearch, codeExecution, urlContext, ...: accepted, never called
        if not isinstance(found, list):
            raise _bad_value(f"tools[{i}].function_declarations", _T + "FunctionDeclaration", found)
        for j, declaration in enumerate(found):
            path = f"tools[{i}].function_declarations[{j}]"
            if not isinstance(declaration, dict):
                raise _bad_value(path, _T + "FunctionDeclaration", declaration)
            name = declaration.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
                raise InvalidArgument(
                    f"* GenerateContentRequest.{path}.name: Invalid function name. Must start "
                    "with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), "
                    "underscores (_), dots (.), colons (:) or dashes (-), with a maximum length "
                    "of 64.\n"
                )
            if name in names:
                raise InvalidArgument(
                    f"* GenerateContentRequest.{path}.name: Duplicate function declaration "
                    f"found: {name}\n"
                )
            names.add(name)
            schema = _get(declaration, "parameters")
            if schema is None:
                schema = _get(declaration, "parametersJsonSchema")
            if schema is not None and not isinstance(schema, dict):
                raise _bad_value(f"{path}.parameters", _T + "Schema", schema)
            declarations.append({"name": name, "input_schema": _normalise_schema(schema)})
    return declarations


def _check_tool_config(config: Any, declarations: list[dict[str, Any]]) -> tuple[str, list[str]]:
    if config is None:
        return "AUTO", []
    if not isinstance(config, dict):
        raise _bad_value("tool_config", _T + "ToolConfig", config)
    calling = _get(config, "functionCallingConfig")
    if calling is None:
        return "AUTO", []
    if not isinstance(calling, dict):
        raise _bad_value(
            "tool_config.function_calling_config", _T + "FunctionCallingConfig", calling
        )
    mode = calling.get("mode", "AUTO")
    if mode not in _MODES:
        raise _bad_value(
            "tool_config.function_calling_config.mode", _T + "FunctionCallingConfig.Mode", mode
        )
    mode = "AUTO" if mode in ("MODE_UNSPECIFIED", "VALIDATED") else mode
    allowed = _get(calling, "allowedFunctionNames")
    if allowed is None:
        allowed = []
    if not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed):
        raise _bad_value(
            "tool_config.function_calling_config.allowed_function_names", "TYPE_STRING", allowed
        )
    if allowed and mode != "ANY":
        raise InvalidArgument(
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names:"
            " allowed_function_names is only allowed when function calling mode is ANY.\n"
        )
    if mode == "ANY" and not declarations:
        raise InvalidArgument(
            "* GenerateContentRequest.tool_config.function_calling_config.mode: "
            "function_calling_config.mode is ANY, but no function_declarations are provided.\n"
        )
    known = {d["name"] for d in declarations}
    for name in allowed:
        if name not in known:
            raise InvalidArgument(
                "* GenerateContentRequest.tool_config.function_calling_config."
                f"allowed_function_names: function {name!r} is not in function_declarations.\n"
            )
    return mode, allowed


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_output_tokens: int | None
    stop_sequences: list[str]


def _check_generation_config(config: Any) -> GenerationParams:
    if config is None:
        return GenerationParams(None, [])
    if not isinstance(config, dict):
        raise _bad_value("generation_config", _T + "GenerationConfig", config)
    _check_unknown(config, _GENERATION_CONFIG, "generation_config")

    max_tokens = _get(config, "maxOutputTokens")
    if max_tokens is not None:
        if not _is_int(max_tokens):
            raise _bad_value("generation_config.max_output_tokens", "TYPE_INT32", max_tokens)
        if max_tokens < 1:
            raise InvalidArgument(
                "* GenerateContentRequest.generation_config.max_output_tokens: "
                "max_output_tokens must be positive.\n"
            )
    for name, high in (("temperature", 2.0), ("topP", 1.0)):
        value = _get(config, name)
        if value is None:
            continue
        if not _is_number(value):
            raise _bad_value(f"generation_config.{_snake(name)}", "TYPE_FLOAT", value)
        if not 0 <= value <= high:
            raise InvalidArgument(
                f"* GenerateContentRequest.generation_config.{_snake(name)}: {_snake(name)} "
                f"must be in the range [0.0, {high:.1f}].\n"
            )
    top_k = _get(config, "topK")
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise InvalidArgument(
            "* GenerateContentRequest.generation_config.top_k: top_k must be a positive integer.\n"
        )
    count = _get(config, "candidateCount")
    if count is not None:
        if not _is_int(count):
            raise _bad_value("generation_config.candidate_count", "TYPE_INT32", count)
        if count != 1:
            raise InvalidArgument(
                "* GenerateContentRequest.generation_config.candidate_count: only one candidate "
                "can be specified (the simulator supports candidate_count 1).\n"
            )
    stops = _get(config, "stopSequences")
    if stops is None:
        stops = []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _bad_value("generation_config.stop_sequences", "TYPE_STRING", stops)
    if len(stops) > _MAX_STOP_SEQUENCES:
        raise InvalidArgument(
            "* GenerateContentRequest.generation_config.stop_sequences: at most "
            f"{_MAX_STOP_SEQUENCES} stop sequences are allowed.\n"
        )
    return GenerationParams(max_tokens, [s for s in stops if s])


@dataclass(frozen=True, slots=True)
class GeminiParams:
    model: str
    contents: list[dict[str, Any]]
    system: dict[str, Any] | None
    tools: Any  # as sent, for the seed and the token count
    declarations: list[dict[str, Any]]  # {"name", "input_schema"} in declaration order
    mode: str  # AUTO | ANY | NONE
    allowed: list[str]
    generation: GenerationParams


def parse_request(model: str, body: Any) -> GeminiParams:
    if not isinstance(body, dict):
        raise InvalidArgument(
            "Invalid JSON payload received. Expected an object (GenerateContentRequest)."
        )
    _check_unknown(body, _TOP_LEVEL, None)
    contents = _check_contents(body.get("contents"))
    system = _check_system(_get(body, "systemInstruction"))
    tools = body.get("tools")
    declarations = _check_tools(tools)
    mode, allowed = _check_tool_config(_get(body, "toolConfig"), declarations)
    generation = _check_generation_config(_get(body, "generationConfig"))
    safety = _get(body, "safetySettings")
    if safety is not None and not isinstance(safety, list):
        raise _bad_value("safety_settings", _T + "SafetySetting", safety)
    return GeminiParams(model, contents, system, tools, declarations, mode, allowed, generation)


def _check_auth(request: web.Request) -> None:
    if request.headers.get("x-goog-api-key") or request.query.get("key"):
        return
    if request.headers.get("authorization"):
        raise InvalidArgument(_ERRORS[401][1], status=401)
    raise InvalidArgument(
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
        status=403,
    )


# --- directive and token counting -----------------------------------------------------------


def _last_user_text(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
        return None
    for content in reversed(body["contents"]):
        if isinstance(content, dict) and content.get("role", "user") in ("user", ""):
            parts = content.get("parts")
            if not isinstance(parts, list):
                return None
            return "\n".join(
                p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
    return None


def directive(body: Any) -> str | None:
    """The fault part of a `[sim ...]` directive in the last user content, if any."""
    text = _last_user_text(body)
    found = None if text is None else find_directive(text)
    return None if found is None else split_tool_word(found)[0]


def _wants_tool_directive(body: Any) -> bool:
    text = _last_user_text(body)
    found = None if text is None else find_directive(text)
    return found is not None and split_tool_word(found)[1]


def _name_tokens(value: Any) -> int:
    return estimate_tokens(value) if isinstance(value, str) else 0


def _part_tokens(part: dict[str, Any]) -> tuple[int, int]:
    """(text tokens, media tokens) of one part."""
    text = part.get("text")
    if isinstance(text, str):
        return estimate_tokens(text), 0
    if _get(part, "inlineData") is not None or _get(part, "fileData") is not None:
        return 0, _MEDIA_PART_TOKENS
    call = _get(part, "functionCall")
    if isinstance(call, dict):
        args = call.get("args")
        return _name_tokens(call.get("name")) + estimate_tokens(json.dumps(args or {})), 0
    result = _get(part, "functionResponse")
    if isinstance(result, dict):
        response = json.dumps(result.get("response"))
        return _name_tokens(result.get("name")) + estimate_tokens(response), 0
    return estimate_tokens(json.dumps(part)), 0


def prompt_tokens(params: GeminiParams) -> tuple[int, int]:
    """(text tokens, media tokens) of the prompt; see the module docstring."""
    text, media = 3, 0
    holders = [params.system] if params.system is not None else []
    holders.extend(params.contents)
    for content in holders:
        text += 4
        for part in content["parts"]:
            t, m = _part_tokens(part)
            text += t
            media += m
    if params.tools:
        text += estimate_tokens(json.dumps(params.tools))
    return text, media


# --- answer planning ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    text: list[str]  # one word per stream event
    call: dict[str, Any] | None  # {"name", "args"}
    finish_reason: str
    prompt_text: int
    prompt_media: int
    candidates: int  # candidatesTokenCount

    @property
    def prompt(self) -> int:
        return self.prompt_text + self.prompt_media


def plan_answer(call: Call, params: GeminiParams) -> Plan:
    seed = seed_for(
        params.model,
        {"system": params.system, "contents": params.contents, "tools": params.tools},
    )
    declarations = params.declarations
    forced = params.mode == "ANY"
    wants_tool = forced or (
        params.mode == "AUTO" and bool(declarations) and _wants_tool_directive(call.body)
    )

    text: list[str] = []
    finish = "STOP"
    if not forced:
        wanted = call.faults.tokens
        if wanted is None:
            wanted = call.settings.default_tokens
        limit = params.generation.max_output_tokens
        truncated = limit is not None and limit < wanted
        count = limit if truncated else wanted
        text = generate_tokens(seed, count, final_period=not truncated)
        text, stopped = _apply_stop_sequences(text, params.generation.stop_sequences)
        if stopped is not None:
            wants_tool = False
        elif truncated:
            finish, wants_tool = "MAX_TOKENS", False

    function_call = None
    candidates = len(text)
    if wants_tool:
        if params.allowed:
            chosen = next(d for d in declarations if d["name"] == params.allowed[0])
        else:
            chosen = declarations[0]
        args = tool_input(chosen, seed)
        function_call = {"name": chosen["name"], "args": args}
        candidates += estimate_tokens(json.dumps(args))
    prompt_text, prompt_media = prompt_tokens(params)
    return Plan(text, function_call, finish, prompt_text, prompt_media, candidates)


def _usage(plan: Plan) -> dict[str, Any]:
    details = [{"modality": "TEXT", "tokenCount": plan.prompt_text}]
    if plan.prompt_media:
        details.append({"modality": "IMAGE", "tokenCount": plan.prompt_media})
    return {
        "promptTokenCount": plan.prompt,
        "candidatesTokenCount": plan.candidates,
        "totalTokenCount": plan.prompt + plan.candidates,
        "promptTokensDetails": details,
    }


# --- responses ------------------------------------------------------------------------------


async def _json_response(call: Call, payload: dict[str, Any]) -> web.StreamResponse:
    """A JSON 200, or its `malformed` / `cut_after` variant (as in openai_common)."""
    body = json.dumps(payload).encode()
    if call.faults.malformed:
        return web.Response(body=body[: len(body) // 2], content_type="application/json")
    if call.faults.cut_after is not None:
        return await send_partial(call.request, body)
    return web.Response(body=body, content_type="application/json")


def _model_of(call: Call) -> str:
    return call.request.match_info["model"]


async def generate_content(call: Call) -> web.StreamResponse:
    try:
        _check_auth(call.request)
        params = parse_request(_model_of(call), call.body)
    except InvalidArgument as exc:
        return render_error(exc.info)

    plan = plan_answer(call, params)
    rate = call.tokens_per_second
    if rate > 0 and plan.candidates:
        await asyncio.sleep(plan.candidates / rate)  # as long as the stream would take
    parts: list[dict[str, Any]] = []
    if plan.text:
        parts.append({"text": "".join(plan.text)})
    if plan.call is not None:
        parts.append({"functionCall": plan.call})
    content: dict[str, Any] = {"parts": parts, "role": "model"} if parts else {"role": "model"}
    payload = {
        "candidates": [{"content": content, "finishReason": plan.finish_reason, "index": 0}],
        "usageMetadata": _usage(plan),
        "modelVersion": params.model,
        "responseId": new_id(""),
    }
    return await _json_response(call, payload)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def stream_generate_content(call: Call) -> web.StreamResponse:
    try:
        _check_auth(call.request)
        params = parse_request(_model_of(call), call.body)
    except InvalidArgument as exc:
        return render_error(exc.info)

    plan = plan_answer(call, params)
    request = call.request
    faults = call.faults
    sse = request.query.get("alt") == "sse"

    # Every event shares this tail; only the part and the running count are serialised.
    prompt = plan.prompt
    tail = f',"modelVersion":{_compact(params.model)},"responseId":"{new_id("")}"}}'

    def text_event(word: str, sent: int) -> str:
        return (
            '{"candidates":[{"content":{"parts":[{"text":'
            + _compact(word)
            + '}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":'
            + f'{prompt},"candidatesTokenCount":{sent},"totalTokenCount":{prompt + sent}}}'
            + tail
        )

    last_part = {"functionCall": plan.call} if plan.call is not None else {"text": ""}
    final = {
        "candidates": [
            {
                "content": {"parts": [last_part], "role": "model"},
                "finishReason": plan.finish_reason,
                "index": 0,
            }
        ],
        "usageMetadata": _usage(plan),
    }
    final_event = _compact(final)[:-1] + tail

    if sse:
        separator, opening, closing = "", "", ""
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    else:
        separator, opening, closing = ",\r\n", "[", "]"
        headers = {"Content-Type": "application/json; charset=UTF-8"}

    first = True

    def frame(event: str) -> str:
        nonlocal first
        if sse:
            return f"data: {event}\n\n"
        lead = opening if first else separator
        first = False
        return lead + event

    response = web.StreamResponse(headers=headers)
    await response.prepare(request)

    rate = call.tokens_per_second
    paced = rate > 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    cut = faults.cut_after
    buffer: list[str] = []
    if faults.malformed:
        buffer.append(frame('{"candidates":[{"content":{"parts":[{"text":'))
    try:
        for sent, word in enumerate(plan.text):
            if cut is not None and sent >= cut:
                return await _cut(call, response, buffer)
            if paced:  # what came before goes out now; this word at its time
                await response.write("".join(buffer).encode())
                buffer.clear()
                delay = started + (sent + 1) / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            buffer.append(frame(text_event(word, sent + 1)))
        if cut is not None:  # asked to cut after more events than there are: before the end
            return await _cut(call, response, buffer)
        buffer.append(frame(final_event))
        buffer.append(closing)
        await response.write("".join(buffer).encode())
    except ConnectionError:
        pass  # the client went away; nothing left to tell it
    return response


async def _cut(call: Call, response: web.StreamResponse, buffer: list[str]) -> web.StreamResponse:
    if buffer:
        await response.write("".join(buffer).encode())
    close_connection(call.request)  # no finishReason event: an aborted stream
    return response


async def unknown_url(call: Call) -> web.StreamResponse:
    request = call.request
    return render_error(
        ErrorInfo(404, f"The requested URL {request.path} was not found on this server.")
    )


_MODEL = "/v1beta/models/{model}"
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        _MODEL + ":generateContent",
        generate_content,
        render_error,
        directive=directive,
        json_body=True,
    ),
    Endpoint(
        "POST",
        _MODEL + ":streamGenerateContent",
        stream_generate_content,
        render_error,
        directive=directive,
        json_body=True,
    ),
    Endpoint("*", "/v1beta/{tail:.*}", unknown_url, render_error, fallback=True),
]
