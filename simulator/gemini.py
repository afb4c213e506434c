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
  `candidatesTokenCount` is the number of (possibly clipped) words kept. A text answer takes
  only `candidateCount: 1` (anything else is a 400); an image answer takes 1..4.
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
* Image output ("Nano Banana"): any model answers images when
  `generationConfig.responseModalities` holds "IMAGE" (names in any case; each entry must be
  TEXT, IMAGE, AUDIO or MODALITY_UNSPECIFIED, else a 400; without IMAGE the answer is text,
  AUDIO included). Then `candidateCount` (1..4, default 1) candidates, candidate `i` with
  `index: i`, `finishReason: "STOP"` and parts: a text part of `IMAGE_TEXT_TOKENS` (8) words
  (`tokens=N` sets it; seeded by model, system, contents and `i`) if "TEXT" is asked too, then
  `{"inlineData": {"mimeType": "image/png", "data": <base64 PNG>}}`. The PNG is
  `output_png(model, image_prompt(contents), i, input_images(contents), aspect_ratio=,
  image_size=)`: a solid PNG from `openai_images` whose colour is its generation colour of
  (model, prompt, i), or, when the contents carry `inlineData` parts of an `image/*` type, its
  edit colour over their decoded bytes in order (image editing: another input image, another
  picture). The prompt is every text part of every content, joined with newlines.
  `generationConfig.imageConfig` (`aspectRatio`, `imageSize`; nothing else, a 400 otherwise)
  is checked even for a text answer: `aspectRatio` one of `ASPECT_RATIOS` (default "1:1"),
  `imageSize` "1K", "2K" or "4K" (upper-case K, default "1K"); an empty string is unset. Size:
  1K is Google's gemini-2.5-flash-image table, 1:1 1024x1024, 2:3 832x1248, 3:2 1248x832,
  3:4 864x1184, 4:3 1184x864, 4:5 896x1152, 5:4 1152x896, 9:16 768x1344, 16:9 1344x768,
  21:9 1536x672; 2K doubles both sides, 4K quadruples them (16:9 4K: 5376x3072), for every
  model. Usage: `promptTokenCount` as above; `candidatesTokenCount` = `IMAGE_TOKENS` (1290)
  per image delivered + the text words; `candidatesTokensDetails` lists TEXT (if any words)
  and IMAGE (if any image) with their counts. `maxOutputTokens`, `stopSequences` and
  tools are checked but do not apply to image answers (no text clipping, no function call).
  `images=N` (the OpenAI images fault) delivers only the first N images: the later candidates
  keep their text but have no image part and `finishReason: "NO_IMAGE"` (Google's reason for
  "an image was expected, none was generated"), and usage counts the delivered images only.
  Streamed, candidate by candidate: one event per word, one event with the whole image part,
  then an event `{"text": ""}` with the candidate's `finishReason`; each event's `index` is the
  candidate's, its usage is cumulative (an image adds 1290), and the last event carries the
  non-stream usage. Pacing (`tokens_per_second`) counts an image as 1290 tokens, and
  `cut_after=N` counts every event but the last.
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
from simulator.openai_images import edit_colour, image_colour, solid_png
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
_IMAGE_CONFIG = frozenset({"aspectRatio", "imageSize"})
_MODALITIES = ("TEXT", "IMAGE", "AUDIO", "MODALITY_UNSPECIFIED")

# Image output. 1K sizes by aspect ratio: the table Google documents for gemini-2.5-flash-image;
# "2K" doubles both sides, "4K" quadruples them (one table for every model).
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
IMAGE_SIZES: dict[str, int] = {"1K": 1, "2K": 2, "4K": 4}  # side multiplier
DEFAULT_ASPECT_RATIO, DEFAULT_IMAGE_SIZE = "1:1", "1K"
IMAGE_TOKENS = 1290  # candidatesTokenCount per output image, Gemini's documented figure
IMAGE_TEXT_TOKENS = 8  # words of the text part before each image (TEXT asked too); `tokens=N`
MAX_IMAGE_CANDIDATES = 4  # candidateCount of an image answer: 1..4


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


def decode_bytes(data: str) -> bytes:
    """Proto JSON bytes: standard or URL-safe base64, padded or not (public: `veo` too)."""
    return base64.b64decode(data.translate(_URLSAFE) + "=" * (-len(data) % 4), validate=True)


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
        try:
            decode_bytes(data)
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
class ImageOutput:
    """What an answer with the IMAGE modality holds: `count` candidates, one image each."""

    with_text: bool  # TEXT asked too: a short text part before each image
    count: int
    aspect_ratio: str
    image_size: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_output_tokens: int | None
    stop_sequences: list[str]
    image: ImageOutput | None = None  # None: a text answer


def _check_modalities(value: Any) -> set[str]:
    """`responseModalities` as upper-case names (any case is accepted: the SDKs' examples send
    `["Text", "Image"]`)."""
    if value is None:
        return set()
    kind = _T + "GenerationConfig.Modality"
    if not isinstance(value, list):
        raise _bad_value("generation_config.response_modalities", kind, value)
    found: set[str] = set()
    for i, item in enumerate(value):
        name = item.upper() if isinstance(item, str) else None
        if name not in _MODALITIES:
            raise _bad_value(f"generation_config.response_modalities[{i}]", kind, item)
        found.add(name)
    return found


def _check_image_choice(
    config: dict[str, Any], name: str, options: dict[str, Any], default: str
) -> str:
    value = _get(config, name)
    if value is None or value == "":  # proto3: an empty string is an unset field
        return default
    path = f"generation_config.image_config.{_snake(name)}"
    if not isinstance(value, str):
        raise _bad_value(path, "TYPE_STRING", value)
    if value not in options:
        raise InvalidArgument(
            f"* GenerateContentRequest.{path}: unsupported {_snake(name)} {json.dumps(value)}; "
            f"supported values: {', '.join(options)}.\n"
        )
    return value


def _check_image_config(config: Any) -> tuple[str, str]:
    """(aspect ratio, image size) of `generationConfig.imageConfig`, checked even for a text
    answer (where they are then unused)."""
    if config is None:
        return DEFAULT_ASPECT_RATIO, DEFAULT_IMAGE_SIZE
    if not isinstance(config, dict):
        raise _bad_value("generation_config.image_config", _T + "ImageConfig", config)
    _check_unknown(config, _IMAGE_CONFIG, "generation_config.image_config")
    ratio = _check_image_choice(config, "aspectRatio", ASPECT_RATIOS, DEFAULT_ASPECT_RATIO)
    size = _check_image_choice(config, "imageSize", IMAGE_SIZES, DEFAULT_IMAGE_SIZE)
    return ratio, size


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
    modalities = _check_modalities(_get(config, "responseModalities"))
    aspect_ratio, image_size = _check_image_config(_get(config, "imageConfig"))
    wants_image = "IMAGE" in modalities
    count = _get(config, "candidateCount")
    if count is None:
        count = 1
    elif not _is_int(count):
        raise _bad_value("generation_config.candidate_count", "TYPE_INT32", count)
    if wants_image and not 1 <= count <= MAX_IMAGE_CANDIDATES:
        raise InvalidArgument(
            "* GenerateContentRequest.generation_config.candidate_count: candidate_count must "
            f"be in the range [1, {MAX_IMAGE_CANDIDATES}] for image output.\n"
        )
    if not wants_image and count != 1:
        raise InvalidArgument(
            "* GenerateContentRequest.generation_config.candidate_count: only one candidate "
            "can be specified (the simulator supports candidate_count 1).\n"
        )
    image = None
    if wants_image:
        image = ImageOutput("TEXT" in modalities, count, aspect_ratio, image_size)
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
    return GenerationParams(max_tokens, [s for s in stops if s], image)


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


def check_auth(request: web.Request) -> None:
    """An API key (header or `?key=`) or raise 401/403 as Google does (public: `veo` too)."""
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


# --- image output ---------------------------------------------------------------------------


def output_size(
    aspect_ratio: str = DEFAULT_ASPECT_RATIO, image_size: str = DEFAULT_IMAGE_SIZE
) -> tuple[int, int]:
    """(width, height) of an output image: `ASPECT_RATIOS` times the `IMAGE_SIZES` factor."""
    width, height = ASPECT_RATIOS[aspect_ratio]
    factor = IMAGE_SIZES[image_size]
    return width * factor, height * factor


def image_prompt(contents: list[dict[str, Any]]) -> str:
    """What an image answer is drawn from: every text part of every content, in order, joined
    with newlines (a `[sim ...]` directive included)."""
    return "\n".join(
        part["text"]
        for content in contents
        for part in content["parts"]
        if isinstance(part.get("text"), str)
    )


def input_images(contents: list[dict[str, Any]]) -> list[bytes]:
    """The decoded bytes of every `inlineData` part with an `image/...` mime type, in order."""
    found = []
    for content in contents:
        for part in content["parts"]:
            blob = _get(part, "inlineData")
            if isinstance(blob, dict) and _get(blob, "mimeType").lower().startswith("image/"):
                found.append(decode_bytes(blob["data"]))
    return found


def output_png(
    model: str,
    prompt: str,
    index: int,
    images: list[bytes] | tuple[bytes, ...] = (),
    *,
    aspect_ratio: str = DEFAULT_ASPECT_RATIO,
    image_size: str = DEFAULT_IMAGE_SIZE,
) -> bytes:
    """The PNG of candidate `index` of an image answer for this model, `image_prompt` and
    `input_images`: `openai_images`' generation colour without input images, its edit colour
    with them. Public so that tests (the gateway's too) can compute the expected answer."""
    width, height = output_size(aspect_ratio, image_size)
    if images:
        colour = edit_colour(model, prompt, index, list(images))
    else:
        colour = image_colour(model, prompt, index)
    return solid_png(width, height, colour)


@dataclass(frozen=True, slots=True)
class ImageCandidate:
    text: list[str]  # one word per stream event; [] without TEXT
    data: str | None  # the PNG in base64; None when the `images` fault withholds it

    @property
    def finish_reason(self) -> str:
        return "STOP" if self.data is not None else "NO_IMAGE"


@dataclass(frozen=True, slots=True)
class ImagePlan:
    answers: list[ImageCandidate]
    prompt_text: int
    prompt_media: int
    text_tokens: int
    images: int  # delivered

    @property
    def prompt(self) -> int:
        return self.prompt_text + self.prompt_media

    @property
    def candidates(self) -> int:  # candidatesTokenCount
        return self.text_tokens + IMAGE_TOKENS * self.images


def plan_images(call: Call, params: GeminiParams, image: ImageOutput) -> ImagePlan:
    prompt = image_prompt(params.contents)
    sources = input_images(params.contents)
    limit = call.faults.images
    delivered = image.count if limit is None else min(image.count, limit)
    words = call.faults.tokens
    if words is None:
        words = IMAGE_TEXT_TOKENS
    answers = []
    for index in range(image.count):
        text: list[str] = []
        if image.with_text:
            seed = seed_for(
                params.model,
                {"system": params.system, "contents": params.contents, "image": index},
            )
            text = generate_tokens(seed, words)
        data = None
        if index < delivered:
            png = output_png(
                params.model,
                prompt,
                index,
                sources,
                aspect_ratio=image.aspect_ratio,
                image_size=image.image_size,
            )
            data = base64.b64encode(png).decode("ascii")
        answers.append(ImageCandidate(text, data))
    prompt_text, prompt_media = prompt_tokens(params)
    text_tokens = sum(len(a.text) for a in answers)
    return ImagePlan(answers, prompt_text, prompt_media, text_tokens, delivered)


def _image_parts(answer: ImageCandidate) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if answer.text:
        parts.append({"text": "".join(answer.text)})
    if answer.data is not None:
        parts.append({"inlineData": {"mimeType": "image/png", "data": answer.data}})
    return parts


def _usage(plan: Plan | ImagePlan) -> dict[str, Any]:
    details = [{"modality": "TEXT", "tokenCount": plan.prompt_text}]
    if plan.prompt_media:
        details.append({"modality": "IMAGE", "tokenCount": plan.prompt_media})
    usage: dict[str, Any] = {
        "promptTokenCount": plan.prompt,
        "candidatesTokenCount": plan.candidates,
        "totalTokenCount": plan.prompt + plan.candidates,
        "promptTokensDetails": details,
    }
    if isinstance(plan, ImagePlan):  # text answers keep their plain counts
        output = []
        if plan.text_tokens:
            output.append({"modality": "TEXT", "tokenCount": plan.text_tokens})
        if plan.images:
            output.append({"modality": "IMAGE", "tokenCount": IMAGE_TOKENS * plan.images})
        if output:
            usage["candidatesTokensDetails"] = output
    return usage


# --- responses ------------------------------------------------------------------------------


async def json_response(call: Call, payload: dict[str, Any]) -> web.StreamResponse:
    """A JSON 200, or its `malformed` / `cut_after` variant (as in openai_common; public:
    `veo` too)."""
    body = json.dumps(payload).encode()
    if call.faults.malformed:
        return web.Response(body=body[: len(body) // 2], content_type="application/json")
    if call.faults.cut_after is not None:
        return await send_partial(call.request, body)
    return web.Response(body=body, content_type="application/json")


def _content(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"parts": parts, "role": "model"} if parts else {"role": "model"}


def _model_of(call: Call) -> str:
    return call.request.match_info["model"]


async def generate_content(call: Call) -> web.StreamResponse:
    try:
        check_auth(call.request)
        params = parse_request(_model_of(call), call.body)
    except InvalidArgument as exc:
        return render_error(exc.info)

    image = params.generation.image
    plan = plan_answer(call, params) if image is None else plan_images(call, params, image)
    rate = call.tokens_per_second
    if rate > 0 and plan.candidates:
        await asyncio.sleep(plan.candidates / rate)  # as long as the stream would take
    if isinstance(plan, ImagePlan):
        candidates = [
            {"content": _content(_image_parts(a)), "finishReason": a.finish_reason, "index": i}
            for i, a in enumerate(plan.answers)
        ]
    else:
        parts: list[dict[str, Any]] = []
        if plan.text:
            parts.append({"text": "".join(plan.text)})
        if plan.call is not None:
            parts.append({"functionCall": plan.call})
        candidates = [{"content": _content(parts), "finishReason": plan.finish_reason, "index": 0}]
    payload = {
        "candidates": candidates,
        "usageMetadata": _usage(plan),
        "modelVersion": params.model,
        "responseId": new_id(""),
    }
    return await json_response(call, payload)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def stream_generate_content(call: Call) -> web.StreamResponse:
    try:
        check_auth(call.request)
        params = parse_request(_model_of(call), call.body)
    except InvalidArgument as exc:
        return render_error(exc.info)

    # Every event shares this tail; only the part and the running count are serialised.
    tail = f',"modelVersion":{_compact(params.model)},"responseId":"{new_id("")}"}}'
    image = params.generation.image
    if image is not None:
        events = _image_events(plan_images(call, params, image), tail)
        final_event = events.pop()[1]
        return await _send_stream(call, events, final_event)

    plan = plan_answer(call, params)
    prompt = plan.prompt

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
    events = [(sent, text_event(word, sent)) for sent, word in enumerate(plan.text, start=1)]
    return await _send_stream(call, events, _compact(final)[:-1] + tail)


def _image_events(plan: ImagePlan, tail: str) -> list[tuple[int, str]]:
    """(output tokens sent so far, event) of an image stream, its last event included: per
    candidate, one event per word, one with the image, then one with its finishReason."""
    prompt = plan.prompt
    events: list[tuple[int, str]] = []
    sent = 0

    def event(part: dict[str, Any], index: int, finish: str | None, usage: Any = None) -> str:
        candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = index
        if usage is None:
            usage = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": sent,
                "totalTokenCount": prompt + sent,
            }
        return _compact({"candidates": [candidate], "usageMetadata": usage})[:-1] + tail

    last = len(plan.answers) - 1
    for index, answer in enumerate(plan.answers):
        for word in answer.text:
            sent += 1
            events.append((sent, event({"text": word}, index, None)))
        if answer.data is not None:
            sent += IMAGE_TOKENS
            blob = {"inlineData": {"mimeType": "image/png", "data": answer.data}}
            events.append((sent, event(blob, index, None)))
        usage = _usage(plan) if index == last else None
        events.append((sent, event({"text": ""}, index, answer.finish_reason, usage)))
    return events


async def _send_stream(
    call: Call, events: list[tuple[int, str]], final_event: str
) -> web.StreamResponse:
    """Send `events` ((output tokens sent so far, event) pairs, paced by those counts) then
    `final_event`, as SSE or a JSON array, applying `malformed` and `cut_after`."""
    request = call.request
    faults = call.faults
    sse = request.query.get("alt") == "sse"
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
        for sent, (tokens, event) in enumerate(events):
            if cut is not None and sent >= cut:
                return await _cut(call, response, buffer)
            if paced:  # what came before goes out now; this event at its time
                await response.write("".join(buffer).encode())
                buffer.clear()
                delay = started + tokens / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            buffer.append(frame(event))
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
