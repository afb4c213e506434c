"""ByteDance Ark (Volcengine) / BytePlus ModelArk, rooted at `/api/v3` (and, like every
endpoint, under every scope: `/s/<scope>/api/v3/...`):

    POST   /api/v3/images/generations              Seedream images (synchronous)
    POST   /api/v3/contents/generations/tasks      create a Seedance video task
    GET    /api/v3/contents/generations/tasks/{id} the task, its status and (once done) video
    DELETE /api/v3/contents/generations/tasks/{id} forget the task: 200 `{}`, then 404
    POST   /api/v3/chat/completions                OpenAI-compatible chat (openai_chat's handler)
    GET    /_sim/ark/videos/{id}.mp4               a task's video (what `video_url` points at)
    GET    /_sim/ark/videos/{id}-last-frame.png    its last frame (`return_last_frame: true`)

Auth: every `/api/v3` endpoint but chat wants `Authorization: Bearer <any non-empty key>`,
else 401 `AuthenticationError` (checked after the server-applied faults, before validation).
The `/_sim/ark/videos/` downloads do not: Ark's links are pre-signed object-storage URLs.

Errors: Ark's envelope, `{"error": {"code", "message", "param", "type"}}` plus an
`x-request-id` header, the message ending in "Request id: <id>" as Ark's do. `type` is the
status's HTTP reason without spaces (BadRequest, Unauthorized, NotFound, TooManyRequests,
InternalServerError, ServiceUnavailable...). Validation: 400 `MissingParameter` (a required
field absent) or `InvalidParameter` (anything else: unknown top-level fields included),
`param` naming the field. Faults' `status` codes, unless the `code` fault says otherwise: 400
InvalidParameter, 401 AuthenticationError, 403 AccessDenied, 404 InvalidEndpoint.NotFound,
429 RateLimitExceeded.EndpointRPMExceeded (with `retry-after`), 500 InternalServiceError,
503 ServerOverloaded, other 5xx InternalServiceError. Unknown ids: 404 `ResourceNotFound`;
unknown `/api/v3` URLs: 404 `ResourceNotFound` too.

Seedream (`POST /api/v3/images/generations`). Fields: `model` (required, any non-empty
string), `prompt` (required, non-empty), `image` (a string or a list of 1..10: http(s) URLs,
not fetched, or `data:image/<format>;base64,<data>` URLs whose data must decode, strictly, to a
PNG, JPEG or WEBP by its first bytes), `size` ("1K" 1024x1024, "2K" 2048x2048, "4K" 4096x4096,
or "<W>x<H>" with both sides 64..4096, no per-model limits; default "2048x2048"),
`sequential_image_generation` ("disabled", the default, or "auto"),
`sequential_image_generation_options` (`{"max_images": 1..15}`), `response_format` ("url",
the default, or "b64_json"), `watermark` (boolean), `stream` (false only: streaming is not
simulated), `seed` (integer -1..2147483647), `guidance_scale` (number 1..10). Checked, then
`watermark`, `seed` and `guidance_scale` are ignored.

* Count: one image, or with `sequential_image_generation: "auto"` and `max_images` given,
  max_images images, capped so that input images + generated ones stay within 15 (Ark's rule).
* Images: solid PNGs (openai_images' machinery) of the size; image `index`'s colour is
  openai_images' `image_colour(model, prompt, index)` without input images, else its
  `edit_colour(model, prompt, index, images)` over the UTF-8 bytes of the `image` strings in
  order (`seedream_png` gives the exact bytes). The prompt includes any `[sim ...]` directive.
* Answer: `{"model", "created", "data": [{"url" | "b64_json", "size": "<W>x<H>"}, ...],
  "usage": {"generated_images": n, "output_tokens": n * W * H / 256, "total_tokens": same}}`
  (16384 per 2048x2048 image, what Ark answers). URLs are openai_images' in-memory ones,
  `http://<Host>/_sim/images/<id>.png` (the last 256 images of the process).
* Faults: the server-applied ones, then `malformed` (half the JSON, status 200), `cut_after`
  (announced length, half sent), `images=N` (only the first min(n, N) images, usage counting
  those). The `[sim ...]` directive is looked for in `prompt`.

Seedance (`POST /api/v3/contents/generations/tasks`). Fields: `model` (required), `content`
(required, a non-empty list of parts: at most one `{"type": "text", "text": <non-empty>}` and
`{"type": "image_url", "image_url": {"url": <as Seedream's image>}, "role": "first_frame" |
"last_frame" | "reference_image"}` parts; a lone image may leave out its role (first_frame);
at most one first_frame and one last_frame, a last_frame only with a first_frame, 1..4
reference_images and never with frames), `resolution` ("480p", "720p" default, "1080p"),
`ratio` ("16:9" default, "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"), `duration`
(integer 2..12, default 5), `seed` (integer -1..4294967295), `camera_fixed`, `watermark`,
`generate_audio`, `draft`, `return_last_frame` (booleans), `callback_url` (an http(s) URL,
never called). Old models' `--ratio 16:9` style flags in the text are not read (they stay in
the prompt). The answer is `{"id": "cgt-<hex>"}`.

* The task, `GET .../tasks/{id}`: `{"id", "model", "status", "content": {"video_url",
  "last_frame_url" (if asked)} (only once succeeded), "usage": {"completion_tokens",
  "total_tokens"} (only once succeeded), "seed", "resolution", "ratio", "duration",
  "framespersecond": 24, "error": null | {"code", "message"}, "created_at", "updated_at"}`.
* Timeline (openai_videos' `job_state`, computed when read): over `job_ms` (default 600)
  "queued" for the first fifth, then "running", then "succeeded" (`job=ok`), "failed"
  (`job=fail`; `error.code` the `code` fault given at creation, else
  "OutputVideoSensitiveContentDetected") or "running" forever (`job=stuck`). `updated_at` is
  when the task last changed status. The job keys, and `download_ms`, are fixed at creation
  from the POST's faults (scope, control API, `x-sim-fault`, a `[sim ...]` in the text part).
* Frame size (Seedance 1.0's table): 480p 864x480, 720p 1248x704, 1080p 1920x1088 at 16:9,
  the other ratios in `FRAME_SIZES`; "adaptive" is answered as asked but sized as 16:9.
  `completion_tokens` = W * H * (24 * duration + 1) / 1024, rounded down (246840 for 1080p
  16:9 5 s, as Ark answers); `total_tokens` the same.
* `video_url` is `http://<Host>[/s/<scope>]/_sim/ark/videos/<id>.mp4`, under the scope the
  task was created in, so the protocol-neutral faults of that scope (its name, the control
  API) and of the download's own `x-sim-fault` header apply to the download (e.g. a `status`
  fault fails it). The MP4 is openai_videos' `video_mp4(model, text, str(duration), "WxH")`
  (`seedance_mp4` gives it), sent after `download_ms`; `malformed` sends half of it. The last
  frame is openai_videos' `preview_png(..., "last_frame")`. Before success (or after a
  failure, or a delete) both are a 404 `ResourceNotFound`.
* Tasks live in memory, per process (not cleared by `/_sim/reset`), the last 512. Read and
  deleted by id under any scope. DELETE forgets the task whatever its status.

Chat: `POST /api/v3/chat/completions` is openai_chat's handler as is (Ark chat is
OpenAI-compatible): its validation errors are in OpenAI's envelope (same keys, OpenAI's
`type` values), server-applied fault errors in Ark's; no auth check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from aiohttp import web

from simulator import openai_chat
from simulator.endpoint import Call, Endpoint
from simulator.faults import ErrorInfo, find_directive, retry_after_headers
from simulator.jsonshape import is_int, is_number, json_type
from simulator.openai_common import json_response, new_id
from simulator.openai_images import (
    IMAGE_PATH,
    edit_colour,
    image_colour,
    image_kind,
    parse_size,
    solid_png,
    store_image,
)
from simulator.openai_videos import (
    DEFAULT_JOB_MS,
    MAX_JOBS,
    QUEUED_FRACTION,
    job_state,
    preview_png,
    send_download,
    video_mp4,
)

BASE_PATH = "/api/v3"
TASKS_PATH = BASE_PATH + "/contents/generations/tasks"
VIDEO_PATH = "/_sim/ark/videos"
LAST_FRAME_SUFFIX = "-last-frame.png"

# --- Seedream --------------------------------------------------------------------------------

IMAGE_PARAMS = frozenset(
    {
        "model",
        "prompt",
        "image",
        "size",
        "sequential_image_generation",
        "sequential_image_generation_options",
        "response_format",
        "watermark",
        "stream",
        "seed",
        "guidance_scale",
    }
)
PRESET_SIZES = {"1K": (1024, 1024), "2K": (2048, 2048), "4K": (4096, 4096)}
DEFAULT_IMAGE_SIZE = "2048x2048"
MAX_INPUT_IMAGES = 10
MAX_GROUP_IMAGES = 15  # max_images, and input + generated images together
SEQUENTIAL_MODES = ("disabled", "auto")
RESPONSE_FORMATS = ("url", "b64_json")
PIXELS_PER_TOKEN = 256  # output_tokens = W * H / 256 per image: 16384 for 2048x2048
MAX_SEED = 2_147_483_647

# --- Seedance --------------------------------------------------------------------------------

TASK_PARAMS = frozenset(
    {
        "model",
        "content",
        "resolution",
        "ratio",
        "duration",
        "seed",
        "camera_fixed",
        "watermark",
        "generate_audio",
        "draft",
        "return_last_frame",
        "callback_url",
    }
)
TASK_BOOLEANS = ("camera_fixed", "watermark", "generate_audio", "draft", "return_last_frame")
RESOLUTIONS = ("480p", "720p", "1080p")
DEFAULT_RESOLUTION = "720p"
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
DEFAULT_RATIO = "16:9"
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 2, 12, 5
MAX_VIDEO_SEED = 4_294_967_295
FPS = 24
ROLES = ("first_frame", "last_frame", "reference_image")
MAX_REFERENCE_IMAGES = 4
# (width, height) per resolution and ratio: Seedance 1.0's published table ("adaptive": 16:9).
FRAME_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {
        "16:9": (864, 480), "4:3": (736, 544), "1:1": (640, 640),
        "3:4": (544, 736), "9:16": (480, 864), "21:9": (960, 416),
    },
    "720p": {
        "16:9": (1248, 704), "4:3": (1120, 832), "1:1": (960, 960),
        "3:4": (832, 1120), "9:16": (704, 1248), "21:9": (1504, 640),
    },
    "1080p": {
        "16:9": (1920, 1088), "4:3": (1664, 1248), "1:1": (1440, 1440),
        "3:4": (1248, 1664), "9:16": (1088, 1920), "21:9": (2176, 928),
    },
}  # fmt: skip
DEFAULT_FAIL_CODE = "OutputVideoSensitiveContentDetected"
FAILED_MESSAGE = (
    "The request failed because the output video may contain sensitive information "
    "(simulated by the `job=fail` fault)."
)

_DATA_URL = re.compile(r"data:image/([A-Za-z0-9.+-]+);base64,(.*)", re.DOTALL)


# --- errors ----------------------------------------------------------------------------------

# status -> (code, message) when a fault (or the server) gives no code or message of its own.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("InvalidParameter", "A parameter specified in the request is not valid."),
    401: (
        "AuthenticationError",
        "The API key or AK/SK in the request is missing or invalid.",
    ),
    403: ("AccessDenied", "You do not have access to the requested resource."),
    404: (
        "InvalidEndpoint.NotFound",
        "The model or endpoint does not exist or you do not have access to it.",
    ),
    429: (
        "RateLimitExceeded.EndpointRPMExceeded",
        "The request has exceeded the rate limit of requests per minute (RPM) of the endpoint.",
    ),
    500: ("InternalServiceError", "The service encountered an unexpected internal error."),
    503: (
        "ServerOverloaded",
        "The service is currently unable to handle additional requests due to server overload.",
    ),
}


def _error_type(status: int) -> str:
    try:
        return "".join(c for c in HTTPStatus(status).phrase if c.isalnum())
    except ValueError:
        return "BadRequest" if status < 500 else "InternalServerError"


def error_body(info: ErrorInfo, request_id: str) -> dict[str, Any]:
    default_code = "InternalServiceError" if info.status >= 500 else _error_type(info.status)
    code, message = _ERRORS.get(info.status, (default_code, "Simulated error."))
    return {
        "error": {
            "code": info.code or code,
            "message": f"{info.message or message} Request id: {request_id}",
            "param": info.param or "",
            "type": _error_type(info.status),
        }
    }


def render_error(info: ErrorInfo) -> web.Response:
    request_id = new_id("021")
    headers = retry_after_headers(info)
    headers["x-request-id"] = request_id
    return web.Response(
        status=info.status,
        body=json.dumps(error_body(info, request_id)).encode(),
        content_type="application/json",
        headers=headers,
    )


class ArkError(Exception):
    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None, status: int = 400
    ):
        super().__init__(message)
        self.info = ErrorInfo(status, message, code=code, param=param)


def _missing(param: str) -> ArkError:
    return ArkError(
        f"The request failed because it is missing one or multiple required parameters: `{param}`.",
        param=param,
        code="MissingParameter",
    )


def _invalid(param: str, detail: str) -> ArkError:
    return ArkError(
        f"The parameter `{param}` specified in the request is not valid: {detail}.",
        param=param,
        code="InvalidParameter",
    )


def _not_found(what: str) -> web.Response:
    return render_error(
        ErrorInfo(404, f"The specified {what} is not found.", code="ResourceNotFound")
    )


def _check_auth(request: web.Request) -> None:
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ArkError(
            "The API key or AK/SK in the request is missing or invalid: send "
            "`Authorization: Bearer <API key>`.",
            code="AuthenticationError",
            status=401,
        )


# --- validation helpers ----------------------------------------------------------------------


def _object(body: Any, known: frozenset[str], param: str = "body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid(param, f"expected an object, got {json_type(body)}")
    for key in body:
        if key not in known:
            name = key if param == "body" else f"{param}.{key}"
            raise _invalid(name, "unknown parameter")
    return body


def _required_string(body: dict[str, Any], name: str, param: str | None = None) -> str:
    param = param or name
    value = body.get(name)
    if value is None:
        raise _missing(param)
    if not isinstance(value, str):
        raise _invalid(param, f"expected a string, got {json_type(value)}")
    if not value.strip():
        raise _invalid(param, "it is empty")
    return value


def _enum(body: dict[str, Any], name: str, options: tuple[str, ...], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value not in options:
        raise _invalid(name, f"{json.dumps(value)}; expected one of {', '.join(options)}")
    return value


def _boolean(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _invalid(name, f"expected a boolean, got {json_type(value)}")
    return value


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not is_int(value) or not low <= value <= high:
        raise _invalid(name, f"{json.dumps(value)}; expected an integer in {low}..{high}")
    return value


def _image_ref(value: Any, param: str) -> str:
    """An image given by URL: an http(s) URL (not fetched) or a base64 data URL of a PNG,
    JPEG or WEBP."""
    if not isinstance(value, str) or not value:
        raise _invalid(param, f"expected a URL string, got {json_type(value)}")
    if value.startswith(("https://", "http://")) and not value.endswith("://"):
        return value
    match = _DATA_URL.fullmatch(value)
    if match is None:
        raise _invalid(param, "expected an http(s) URL or a data:image/<format>;base64,<data> URL")
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(param, "the data URL is not valid base64") from None
    if image_kind(data[:16]) is None:
        raise _invalid(param, "the data URL is not a PNG, JPEG or WEBP image")
    return value


# --- Seedream --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageRequest:
    model: str
    prompt: str
    images: tuple[str, ...]  # the `image` strings, in order
    width: int
    height: int
    count: int
    response_format: str


def image_size(size: str) -> tuple[int, int]:
    """(width, height) of a Seedream `size`; ValueError if the simulator does not make it."""
    preset = PRESET_SIZES.get(size.upper())
    if preset is not None:
        return preset
    if size == "auto":  # parse_size's own default, not Ark's
        raise ValueError(size)
    return parse_size(size)


def _size(body: dict[str, Any]) -> tuple[int, int]:
    value = body.get("size")
    if value is None:
        return image_size(DEFAULT_IMAGE_SIZE)
    if not isinstance(value, str):
        raise _invalid("size", f"expected a string, got {json_type(value)}")
    try:
        return image_size(value)
    except ValueError:
        raise _invalid(
            "size", f"{json.dumps(value)}; expected 1K, 2K, 4K or <width>x<height> (64..4096)"
        ) from None


def _input_images(body: dict[str, Any]) -> tuple[str, ...]:
    value = body.get("image")
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _invalid("image", f"expected a string or an array, got {json_type(value)}")
    if not 1 <= len(items) <= MAX_INPUT_IMAGES:
        raise _invalid("image", f"expected 1..{MAX_INPUT_IMAGES} images, got {len(items)}")
    return tuple(_image_ref(item, "image") for item in items)


def _image_count(body: dict[str, Any], inputs: int) -> int:
    mode = _enum(body, "sequential_image_generation", SEQUENTIAL_MODES, "disabled")
    options = body.get("sequential_image_generation_options")
    max_images = None
    if options is not None:
        param = "sequential_image_generation_options"
        options = _object(options, frozenset({"max_images"}), param)
        max_images = options.get("max_images")
        if max_images is not None and (
            not is_int(max_images) or not 1 <= max_images <= MAX_GROUP_IMAGES
        ):
            raise _invalid(
                f"{param}.max_images",
                f"{json.dumps(max_images)}; expected an integer in 1..{MAX_GROUP_IMAGES}",
            )
    if mode != "auto" or max_images is None:
        return 1
    return max(1, min(max_images, MAX_GROUP_IMAGES - inputs))


def parse_image_request(body: Any) -> ImageRequest:
    body = _object(body, IMAGE_PARAMS)
    model = _required_string(body, "model")
    prompt = _required_string(body, "prompt")
    images = _input_images(body)
    width, height = _size(body)
    count = _image_count(body, len(images))
    response_format = _enum(body, "response_format", RESPONSE_FORMATS, "url")
    _boolean(body, "watermark")
    if _boolean(body, "stream"):
        raise _invalid("stream", "streaming is not simulated: leave it out or send false")
    _integer(body, "seed", -1, MAX_SEED)
    scale = body.get("guidance_scale")
    if scale is not None and (not is_number(scale) or not 1 <= scale <= 10):
        raise _invalid("guidance_scale", f"{json.dumps(scale)}; expected a number in 1..10")
    return ImageRequest(model, prompt, images, width, height, count, response_format)


def seedream_colour(model: str, prompt: str, index: int, images: Sequence[str] = ()) -> bytes:
    """The RGB colour (3 bytes) of image `index` of a Seedream request."""
    if not images:
        return image_colour(model, prompt, index)
    return edit_colour(model, prompt, index, [image.encode() for image in images])


def seedream_png(
    model: str,
    prompt: str,
    index: int,
    size: str = DEFAULT_IMAGE_SIZE,
    images: Sequence[str] = (),
) -> bytes:
    """The PNG the simulator answers as image `index` of a Seedream request (`images`: its
    `image` strings). Public so that tests (the gateway's too) can compute it directly."""
    width, height = image_size(size)
    return solid_png(width, height, seedream_colour(model, prompt, index, images))


def image_directive(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("prompt"), str):
        return find_directive(body["prompt"])
    return None


async def generate_images(call: Call) -> web.StreamResponse:
    try:
        _check_auth(call.request)
        params = parse_image_request(call.body)
    except ArkError as exc:
        return render_error(exc.info)
    limit = call.faults.images
    count = params.count if limit is None else min(params.count, limit)
    request = call.request
    size = f"{params.width}x{params.height}"
    data = []
    for index in range(count):
        colour = seedream_colour(params.model, params.prompt, index, params.images)
        png = solid_png(params.width, params.height, colour)
        if params.response_format == "url":
            url = f"{request.scheme}://{request.host}{IMAGE_PATH}/{store_image(png)}.png"
            data.append({"url": url, "size": size})
        else:
            data.append({"b64_json": base64.b64encode(png).decode("ascii"), "size": size})
    tokens = count * (params.width * params.height // PIXELS_PER_TOKEN)
    payload = {
        "model": params.model,
        "created": int(time.time()),
        "data": data,
        "usage": {"generated_images": count, "output_tokens": tokens, "total_tokens": tokens},
    }
    return await json_response(call, payload)


# --- Seedance --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskRequest:
    model: str
    text: str  # the text part ("" if none): what the video is made from
    resolution: str
    ratio: str
    duration: int
    seed: int | None
    return_last_frame: bool


@dataclass(slots=True)
class Task:
    id: str
    params: TaskRequest
    prefix: str  # "" or "/s/<scope>": where its downloads are served
    created: float  # time.time()
    started: float  # time.monotonic()
    job_ms: int
    outcome: str  # "ok", "fail" or "stuck"
    download_ms: int
    error_code: str


def frame_size(resolution: str, ratio: str) -> tuple[int, int]:
    """(width, height) of a Seedance video ("adaptive" sized as 16:9)."""
    return FRAME_SIZES[resolution][DEFAULT_RATIO if ratio == "adaptive" else ratio]


def completion_tokens(resolution: str, ratio: str, duration: int) -> int:
    width, height = frame_size(resolution, ratio)
    return width * height * (FPS * duration + 1) // 1024


def seedance_mp4(
    model: str,
    text: str,
    duration: int = DEFAULT_DURATION,
    resolution: str = DEFAULT_RESOLUTION,
    ratio: str = DEFAULT_RATIO,
) -> bytes:
    """The MP4 the simulator serves for a task (`text`: its text part, "" if none). Public so
    that tests (the gateway's too) can compute the expected download directly."""
    width, height = frame_size(resolution, ratio)
    return video_mp4(model, text, str(duration), f"{width}x{height}")


def last_frame_png(
    model: str,
    text: str,
    duration: int = DEFAULT_DURATION,
    resolution: str = DEFAULT_RESOLUTION,
    ratio: str = DEFAULT_RATIO,
) -> bytes:
    width, height = frame_size(resolution, ratio)
    return preview_png(model, text, str(duration), f"{width}x{height}", "last_frame")


def _content(value: Any) -> str:
    """Check a task's `content` parts; the text part's text ("" if none)."""
    if value is None:
        raise _missing("content")
    if not isinstance(value, list) or not value:
        raise _invalid("content", "expected a non-empty array of parts")
    texts: list[str] = []
    roles: list[str | None] = []
    for position, part in enumerate(value):
        param = f"content[{position}]"
        if not isinstance(part, dict):
            raise _invalid(param, f"expected an object, got {json_type(part)}")
        kind = part.get("type")
        if kind == "text":
            _object(part, frozenset({"type", "text"}), param)
            texts.append(_required_string(part, "text", f"{param}.text"))
        elif kind == "image_url":
            _object(part, frozenset({"type", "image_url", "role"}), param)
            image = part.get("image_url")
            if image is None:
                raise _missing(f"{param}.image_url")
            image = _object(image, frozenset({"url"}), f"{param}.image_url")
            if image.get("url") is None:
                raise _missing(f"{param}.image_url.url")
            _image_ref(image["url"], f"{param}.image_url.url")
            role = part.get("role")
            if role is not None and role not in ROLES:
                raise _invalid(
                    f"{param}.role", f"{json.dumps(role)}; expected one of {', '.join(ROLES)}"
                )
            roles.append(role)
        else:
            raise _invalid(f"{param}.type", f"{json.dumps(kind)}; expected text or image_url")
    if len(texts) > 1:
        raise _invalid("content", "at most one text part")
    _check_roles(roles)
    return texts[0] if texts else ""


def _check_roles(roles: list[str | None]) -> None:
    if len(roles) == 1 and roles[0] is None:
        return  # a lone image: the first frame
    if None in roles:
        raise _invalid("content", "each image needs a role when there are several")
    count = {role: roles.count(role) for role in ROLES}
    if count["first_frame"] > 1 or count["last_frame"] > 1:
        raise _invalid("content", "at most one first_frame and one last_frame image")
    if count["last_frame"] and not count["first_frame"]:
        raise _invalid("content", "a last_frame image needs a first_frame image")
    if count["reference_image"] and (count["first_frame"] or count["last_frame"]):
        raise _invalid("content", "reference_image images cannot be mixed with frame images")
    if count["reference_image"] > MAX_REFERENCE_IMAGES:
        raise _invalid("content", f"at most {MAX_REFERENCE_IMAGES} reference_image images")


def parse_task_request(body: Any) -> TaskRequest:
    body = _object(body, TASK_PARAMS)
    model = _required_string(body, "model")
    text = _content(body.get("content"))
    resolution = _enum(body, "resolution", RESOLUTIONS, DEFAULT_RESOLUTION)
    ratio = _enum(body, "ratio", RATIOS, DEFAULT_RATIO)
    duration = _integer(body, "duration", MIN_DURATION, MAX_DURATION)
    seed = _integer(body, "seed", -1, MAX_VIDEO_SEED)
    flags = {name: _boolean(body, name) for name in TASK_BOOLEANS}  # checked, most ignored
    callback = body.get("callback_url")
    if callback is not None and (
        not isinstance(callback, str) or not callback.startswith(("https://", "http://"))
    ):
        raise _invalid("callback_url", "expected an http(s) URL")
    return TaskRequest(
        model=model,
        text=text,
        resolution=resolution,
        ratio=ratio,
        duration=DEFAULT_DURATION if duration is None else duration,
        seed=None if seed is None or seed == -1 else seed,
        return_last_frame=bool(flags["return_last_frame"]),
    )


def task_directive(body: Any) -> str | None:
    """A `[sim ...]` directive in the text part of `content`, if any."""
    if isinstance(body, dict) and isinstance(body.get("content"), list):
        for part in body["content"]:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    return find_directive(text)
    return None


# One event loop: a plain dict is safe. Per process; oldest first.
_TASKS: OrderedDict[str, Task] = OrderedDict()

_STATUSES = {"in_progress": "running", "completed": "succeeded"}


def scope_prefix(request: web.Request, scope: str) -> str:
    """The scope's URL prefix ("/s/<scope>", or nothing at the root): where a job's downloads
    are served. Public: `veo` uses it too."""
    return f"/s/{quote(scope, safe='=,:._-')}" if "scope" in request.match_info else ""


def _seed(params: TaskRequest) -> int:
    if params.seed is not None:
        return params.seed
    key = f"{params.model}\x00{params.text}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") >> 1


def _task_object(task: Task, request: web.Request) -> dict[str, Any]:
    params = task.params
    status, _ = job_state(task, time.monotonic())
    status = _STATUSES.get(status, status)
    queued_s = task.job_ms / 1000 * QUEUED_FRACTION
    changed = {"queued": 0.0, "running": queued_s}.get(status, task.job_ms / 1000)
    payload: dict[str, Any] = {"id": task.id, "model": params.model, "status": status}
    if status == "succeeded":
        base = f"{request.scheme}://{request.host}{task.prefix}{VIDEO_PATH}/{task.id}"
        payload["content"] = {"video_url": base + ".mp4"}
        if params.return_last_frame:
            payload["content"]["last_frame_url"] = base + LAST_FRAME_SUFFIX
        tokens = completion_tokens(params.resolution, params.ratio, params.duration)
        payload["usage"] = {"completion_tokens": tokens, "total_tokens": tokens}
    error = None
    if status == "failed":
        error = {"code": task.error_code, "message": FAILED_MESSAGE}
    payload.update(
        {
            "seed": _seed(params),
            "resolution": params.resolution,
            "ratio": params.ratio,
            "duration": params.duration,
            "framespersecond": FPS,
            "error": error,
            "created_at": int(task.created),
            "updated_at": int(task.created + changed),
        }
    )
    return payload


def _plain_json(payload: dict[str, Any]) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers={"x-request-id": new_id("021")},
    )


async def create_task(call: Call) -> web.StreamResponse:
    try:
        _check_auth(call.request)
        params = parse_task_request(call.body)
    except ArkError as exc:
        return render_error(exc.info)
    faults = call.faults
    task = Task(
        id=new_id("cgt-"),
        params=params,
        prefix=scope_prefix(call.request, call.scope),
        created=time.time(),
        started=time.monotonic(),
        job_ms=DEFAULT_JOB_MS if faults.job_ms is None else faults.job_ms,
        outcome=faults.job or "ok",
        download_ms=faults.download_ms or 0,
        error_code=faults.code or DEFAULT_FAIL_CODE,
    )
    _TASKS[task.id] = task
    while len(_TASKS) > MAX_JOBS:
        _TASKS.popitem(last=False)
    return await json_response(call, {"id": task.id})


async def retrieve_task(call: Call) -> web.StreamResponse:
    try:
        _check_auth(call.request)
    except ArkError as exc:
        return render_error(exc.info)
    task = _TASKS.get(call.request.match_info["task_id"])
    if task is None:
        return _not_found("task")
    return _plain_json(_task_object(task, call.request))


async def delete_task(call: Call) -> web.StreamResponse:
    try:
        _check_auth(call.request)
    except ArkError as exc:
        return render_error(exc.info)
    if _TASKS.pop(call.request.match_info["task_id"], None) is None:
        return _not_found("task")
    return _plain_json({})


async def download(call: Call) -> web.StreamResponse:
    """A succeeded task's video or last frame: no auth (pre-signed in real life)."""
    name = call.request.match_info["name"]
    if name.endswith(".mp4"):
        task_id, kind = name.removesuffix(".mp4"), "video"
    elif name.endswith(LAST_FRAME_SUFFIX):
        task_id, kind = name.removesuffix(LAST_FRAME_SUFFIX), "last_frame"
    else:
        return _not_found("object")
    task = _TASKS.get(task_id)
    if task is None or job_state(task, time.monotonic())[0] != "completed":
        return _not_found("object")
    params = task.params
    if kind == "video":
        data = seedance_mp4(
            params.model, params.text, params.duration, params.resolution, params.ratio
        )
        content_type = "video/mp4"
    else:
        if not params.return_last_frame:
            return _not_found("object")
        data = last_frame_png(
            params.model, params.text, params.duration, params.resolution, params.ratio
        )
        content_type = "image/png"
    if call.faults.malformed:
        data = data[: len(data) // 2]
    headers = {"cache-control": "no-store", "x-request-id": new_id("021")}
    return await send_download(call.request, data, content_type, headers, task.download_ms)


async def unknown_url(call: Call) -> web.StreamResponse:
    request = call.request
    return render_error(
        ErrorInfo(
            404,
            f"The requested URL {request.method} {request.path} is not found.",
            code="ResourceNotFound",
        )
    )


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        BASE_PATH + "/images/generations",
        generate_images,
        render_error,
        directive=image_directive,
        json_body=True,
    ),
    Endpoint(
        "POST", TASKS_PATH, create_task, render_error, directive=task_directive, json_body=True
    ),
    Endpoint("GET", TASKS_PATH + "/{task_id}", retrieve_task, render_error),
    Endpoint("DELETE", TASKS_PATH + "/{task_id}", delete_task, render_error),
    Endpoint(
        "POST",
        BASE_PATH + "/chat/completions",
        openai_chat.chat_completions,
        render_error,
        directive=openai_chat.directive,
        json_body=True,
    ),
    Endpoint("GET", VIDEO_PATH + "/{name}", download, render_error),
    Endpoint("*", BASE_PATH + "/{tail:.*}", unknown_url, render_error, fallback=True),
]
