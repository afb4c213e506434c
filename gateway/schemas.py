"""Validation of /v1 request bodies. Top-level fields a protocol does not define are refused,
as OpenAI and Anthropic refuse them (a typo must not be silently ignored); the known fields we
do not use ourselves go to the upstream untouched."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from gateway import sniff, webhooks
from gateway.errors import bad_request

MAX_N = 8
MAX_DEPTH = 64
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def parse_json_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise bad_request("The request body is empty; send a JSON object.", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request(
            "We could not parse the JSON body of your request.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    if _depth(body) > MAX_DEPTH:
        raise bad_request("The JSON body is nested too deeply.", code="invalid_json")
    return body


# Every top-level field of OpenAI's chat completions, embeddings and Responses requests.
CHAT_FIELDS = frozenset({
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions",
    "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities",
    "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier",
    "seed", "service_tier", "stop", "store", "stream", "stream_options", "temperature",
    "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
})  # fmt: skip
# `stream` is refused with its own, clearer message.
EMBEDDINGS_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user", "stream"})
IMAGE_FIELDS = frozenset({
    "model", "prompt", "n", "size", "quality", "response_format", "output_format",
    "output_compression", "background", "moderation", "style", "user", "stream",
    "partial_images",
})  # fmt: skip
RESPONSES_FIELDS = frozenset({
    "model", "input", "background", "client_metadata", "conversation", "include",
    "instructions", "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls",
    "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_retention",
    "reasoning", "safety_identifier", "service_tier", "store", "stream", "stream_options",
    "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
    "user",
})  # fmt: skip


def refuse_unknown_fields(body: dict[str, Any], known: frozenset[str]) -> None:
    """OpenAI's answer to a field it does not define: 400 naming the field."""
    for name in body:
        if name not in known:
            raise bad_request(
                f"Unrecognized request argument supplied: {name}",
                param=name[:100],
                code="unknown_parameter",
            )


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise bad_request(f"'{name}' must be a positive integer.", param=name)
    return value


@dataclass(frozen=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    max_output_tokens: int | None
    n: int
    # Characters of text the prompt carries, for the worst-case token estimate.
    prompt_chars: int
    message_count: int
    image_count: int


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise bad_request("You must provide a model parameter.", param="model", code="missing")
    if not isinstance(model, str) or not model or len(model) > 100:
        raise bad_request("'model' must be a model id string.", param="model")
    return model


def _prompt(body: dict[str, Any], most: int) -> str:
    prompt = body.get("prompt")
    if prompt is None:
        raise bad_request("Missing required parameter: 'prompt'.", param="prompt", code="missing")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request("'prompt' must be a non-empty string.", param="prompt")
    if len(prompt) > most:
        raise bad_request(f"'prompt' is too long: at most {most} characters.", param="prompt")
    return prompt


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    model = _model(body)

    messages = body.get("messages")
    if messages is None:
        raise bad_request(
            "Missing required parameter: 'messages'.", param="messages", code="missing"
        )
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array.", param="messages")
    chars = 0
    images = 0
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(f"'{where}' must be an object.", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise bad_request(
                f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.", param=f"{where}.role"
            )
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise bad_request(
                        f"'{where}.content[{j}]' must be an object with a type.",
                        param=f"{where}.content[{j}]",
                    )
                if part["type"] in {"text", "input_text"}:
                    text = part.get("text")
                    if not isinstance(text, str):
                        raise bad_request(
                            f"'{where}.content[{j}].text' must be a string.",
                            param=f"{where}.content[{j}].text",
                        )
                    chars += len(text)
                elif part["type"] in {"image_url", "input_image"}:
                    images += 1
        elif content is None:
            if role != "assistant" or not message.get("tool_calls"):
                raise bad_request(f"'{where}.content' is required.", param=f"{where}.content")
        else:
            raise bad_request(
                f"'{where}.content' must be a string or an array of parts.",
                param=f"{where}.content",
            )
        if message.get("tool_calls") is not None:
            chars += len(orjson.dumps(message["tool_calls"]))

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", param="stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise bad_request(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object.", param="stream_options")
        include_usage = options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise bad_request(
                "'stream_options.include_usage' must be a boolean.",
                param="stream_options.include_usage",
            )

    max_tokens = _optional_positive_int(body, "max_tokens")
    max_completion = _optional_positive_int(body, "max_completion_tokens")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if not _is_int(n) or not 1 <= n <= MAX_N:
        raise bad_request(f"'n' must be an integer from 1 to {MAX_N}.", param="n")
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(name)
        if value is not None and (not _is_number(value) or not low <= value <= high):
            raise bad_request(f"'{name}' must be a number from {low} to {high}.", param=name)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise bad_request("'tools' must be an array.", param="tools")
        chars += len(orjson.dumps(tools))
    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=include_usage,
        max_output_tokens=max_completion or max_tokens,
        n=n,
        prompt_chars=chars,
        message_count=len(messages),
        image_count=images,
    )


@dataclass(frozen=True)
class EmbeddingsRequest:
    body: dict[str, Any]
    model: str
    input_count: int
    input_chars: int
    input_token_ids: int


MAX_EMBEDDING_INPUTS = 2048


def parse_embeddings(body: dict[str, Any]) -> EmbeddingsRequest:
    refuse_unknown_fields(body, EMBEDDINGS_FIELDS)
    model = _model(body)
    raw = body.get("input")
    if raw is None:
        raise bad_request("Missing required parameter: 'input'.", param="input", code="missing")
    # A string, an array of strings, an array of token ids, or an array of such arrays.
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(_is_int(t) for t in raw)):
        items = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        raise bad_request("'input' must be a non-empty string or array.", param="input")
    if len(items) > MAX_EMBEDDING_INPUTS:
        raise bad_request(f"'input' may hold at most {MAX_EMBEDDING_INPUTS} items.", param="input")
    chars = 0
    token_ids = 0
    for i, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise bad_request(f"'input[{i}]' must not be empty.", param=f"input[{i}]")
            chars += len(item)
        elif isinstance(item, list) and item and all(_is_int(t) and t >= 0 for t in item):
            token_ids += len(item)
        elif _is_int(item) and len(items) == 1:
            token_ids += 1
        else:
            raise bad_request(
                f"'input[{i}]' must be a string or an array of token ids.", param=f"input[{i}]"
            )
    if body.get("stream"):
        raise bad_request("Embeddings cannot be streamed; leave 'stream' out.", param="stream")
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in {"float", "base64"}:
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not _is_int(dimensions) or dimensions < 1):
        raise bad_request("'dimensions' must be a positive integer.", param="dimensions")
    return EmbeddingsRequest(
        body=body,
        model=model,
        input_count=len(items),
        input_chars=chars,
        input_token_ids=token_ids,
    )


@dataclass(frozen=True)
class ImageRequest:
    body: dict[str, Any]
    model: str
    n: int
    size: str  # "WIDTHxHEIGHT" or "auto"
    quality: str
    response_format: str  # what the client wants back: "b64_json" or "url"
    prompt_chars: int
    # Edits: the uploaded images and mask as (form field, multipart.UploadedFile) pairs.
    files: tuple[tuple[str, Any], ...] = ()


MAX_IMAGES = 10
MAX_IMAGE_PROMPT_CHARS = 32_000


IMAGE_EDIT_FIELDS = IMAGE_FIELDS | {"input_fidelity"}
MAX_IMAGE_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_EDIT_IMAGES = 16


def parse_image_edit(fields: dict[str, str], files: dict[str, list[Any]]) -> ImageRequest:
    """An edit request from a form: the generation fields plus `image` (or `image[]`, up to
    16) and an optional `mask`, each a PNG, JPEG or WebP file."""
    unexpected = next((n for n in files if n not in {"image", "image[]", "mask"}), None)
    if unexpected:
        raise bad_request(f"Unexpected file field '{unexpected[:50]}'.", param=unexpected[:50])
    images = [("image[]", f) for name in ("image", "image[]") for f in files.get(name, [])]
    if not images:
        raise bad_request("Missing required parameter: 'image' (an image file).", param="image",
                          code="missing")  # fmt: skip
    if len(images) > MAX_EDIT_IMAGES:
        raise bad_request(f"At most {MAX_EDIT_IMAGES} images.", param="image")
    masks = [("mask", f) for f in files.get("mask", [])][:1]
    checked = []
    for name, upload in images + masks:
        param = "mask" if name == "mask" else "image"
        image_type = sniff.image_type(upload.data)
        if image_type is None or len(upload.data) > MAX_IMAGE_UPLOAD_BYTES:
            raise bad_request(f"'{param}' must be a PNG, JPEG or WebP file of at most 50 MB.",
                              param=param)  # fmt: skip
        checked.append((name, replace(upload, content_type=image_type)))  # its true type
    body: dict[str, Any] = dict(fields)
    if "n" in body:
        body["n"] = int(body["n"]) if body["n"].isdigit() else body["n"]
    request = parse_image_generation(body, known=IMAGE_EDIT_FIELDS)
    return ImageRequest(**{**request.__dict__, "files": tuple(checked)})


def parse_image_generation(
    body: dict[str, Any], *, known: frozenset[str] = IMAGE_FIELDS
) -> ImageRequest:
    refuse_unknown_fields(body, known)
    model = _model(body)
    prompt = _prompt(body, MAX_IMAGE_PROMPT_CHARS)
    n = body.get("n", 1)
    if not _is_int(n) or not 1 <= n <= MAX_IMAGES:
        raise bad_request(f"'n' must be an integer from 1 to {MAX_IMAGES}.", param="n")
    size = body.get("size", "auto")
    if not isinstance(size, str) or not _valid_size(size):
        raise bad_request("'size' must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'.", param="size")
    quality = body.get("quality", "auto")
    if not isinstance(quality, str) or quality not in {
        "auto", "low", "medium", "high", "standard", "hd"
    }:  # fmt: skip
        raise bad_request(
            "'quality' must be one of auto, low, medium, high, standard, hd.", param="quality"
        )
    response_format = body.get("response_format") or "b64_json"
    if response_format not in {"b64_json", "url"}:
        raise bad_request("'response_format' must be 'b64_json' or 'url'.", param="response_format")
    if body.get("stream"):
        raise bad_request(
            "Streaming image generation is not supported; leave 'stream' out.", param="stream"
        )
    return ImageRequest(
        body=body,
        model=model,
        n=n,
        size=size,
        quality=quality,
        response_format=response_format,
        prompt_chars=len(prompt),
    )


def _valid_size(size: str) -> bool:
    if size == "auto":
        return True
    width, x, height = size.partition("x")
    return (
        x == "x"
        and width.isdigit()
        and height.isdigit()
        and 64 <= int(width) <= 8192
        and 64 <= int(height) <= 8192
    )


VIDEO_FIELDS = frozenset(
    {"model", "prompt", "seconds", "size", "input_reference", "user", "callback_url"}
)
MAX_VIDEO_PROMPT_CHARS = 32_000


MAX_VIDEO_UPLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class VideoRequest:
    model: str
    prompt: str  # "" only for a video input (a tool such as Enhance Video needs none)
    seconds: int  # of the video to make; with a video input, that video's length
    size: str  # WIDTHxHEIGHT
    reference: Any = None  # multipart.UploadedFile of an input image or video, if any
    callback_url: str = ""  # announced there when the job ends (gateway/webhooks.py)

    @property
    def reference_is_video(self) -> bool:
        return self.reference is not None and sniff.is_video(self.reference.data)

    @property
    def resolution(self) -> str:
        """The price table's key for this size: by its short side (480p, 720p, 1080p, 4k)."""
        width, _, height = self.size.partition("x")
        short = min(int(width), int(height))
        if short <= 480:
            return "480p"
        if short <= 720:
            return "720p"
        if short <= 1080:
            return "1080p"
        return "4k"


def _video_reference(reference: Any) -> tuple[Any, int | None]:
    """Check an uploaded `input_reference` by its bytes, not its declared type: the file with
    its true content type and, for a video, its length in whole seconds (rounded up)."""
    if (image_type := sniff.image_type(reference.data)) is not None:
        if len(reference.data) > MAX_IMAGE_UPLOAD_BYTES:
            raise bad_request("'input_reference' must be an image of at most 50 MB.",
                              param="input_reference")  # fmt: skip
        return replace(reference, content_type=image_type), None
    if (video_type := sniff.video_type(reference.data)) is None:
        raise bad_request("'input_reference' must be a PNG, JPEG or WebP image, or an MP4 or "
                          "MOV video.", param="input_reference")  # fmt: skip
    if len(reference.data) > MAX_VIDEO_UPLOAD_BYTES:
        raise bad_request("'input_reference' must be a video of at most 200 MB.",
                          param="input_reference")  # fmt: skip
    length_ms = sniff.video_duration_ms(reference.data)
    if length_ms is None:
        raise bad_request("The video in 'input_reference' does not say how long it is (no "
                          "movie header): send a finished MP4 or MOV file.",
                          param="input_reference")  # fmt: skip
    return replace(reference, content_type=video_type), -(-length_ms // 1000)


def parse_video_form(fields: dict[str, str], files: dict[str, list[Any]]) -> VideoRequest:
    """A video request as the openai SDK's form: the fields and an optional `input_reference`
    file (an image, or a video for a tool)."""
    unexpected = next((name for name in files if name != "input_reference"), None)
    if unexpected:
        raise bad_request(f"Unexpected file field '{unexpected[:50]}'.", param=unexpected[:50])
    reference = files["input_reference"][0] if "input_reference" in files else None
    return parse_video(fields, reference)


def parse_video(fields: dict[str, Any], reference: Any = None) -> VideoRequest:
    """A video request from a JSON body or a form's fields (values may be strings). With a
    video as `input_reference` the length is that video's: `seconds` may be left out, and if
    given must agree; the prompt may be left out."""
    refuse_unknown_fields(fields, VIDEO_FIELDS)
    model = _model(fields)
    if isinstance(fields.get("input_reference"), str | dict):
        raise bad_request(
            "'input_reference' must be an uploaded file (multipart/form-data).",
            param="input_reference",
        )
    input_seconds = None
    if reference is not None:
        reference, input_seconds = _video_reference(reference)
    if input_seconds is not None and fields.get("prompt") is None:
        prompt = ""
    else:
        prompt = _prompt(fields, MAX_VIDEO_PROMPT_CHARS)
    seconds = fields.get("seconds", "4" if input_seconds is None else input_seconds)
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)
    if not _is_int(seconds) or not 1 <= seconds <= 600:
        raise bad_request("'seconds' must be a whole number of seconds.", param="seconds")
    if input_seconds is not None and seconds != input_seconds:
        raise bad_request(
            f"'seconds' must match the input video, which lasts {input_seconds} s (rounded "
            "up); leave it out to use that.",
            param="seconds",
        )
    size = fields.get("size", "1280x720")
    if not isinstance(size, str) or size == "auto" or not _valid_size(size):
        raise bad_request("'size' must be WIDTHxHEIGHT, e.g. '1280x720'.", param="size")
    callback_url = fields.get("callback_url") or ""
    if callback_url:
        webhooks.check_url(callback_url)
    return VideoRequest(
        model=model, prompt=prompt, seconds=seconds, size=size, reference=reference,
        callback_url=callback_url,
    )  # fmt: skip
