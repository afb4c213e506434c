"""Google Veo video generation on the Gemini API: long-running operations.

    POST /v1beta/models/{model}:predictLongRunning          start an operation
    GET  /v1beta/models/{model}/operations/{operation}      poll it (`GET /v1beta/{name}`)
    GET  /v1beta/files/{file}:download?alt=media            its video, once done

All of them are also under every scope (`/s/<scope>/v1beta/...`), like every endpoint. Shapes
follow /work/shared/PROTOCOLS.md §6 and Google's Veo guide; where they are silent (validation
texts, what is rejected) this says what it chose.

Auth: gemini's: an `x-goog-api-key` header or `?key=` (any non-empty value) on all three,
the download included (unlike Ark's pre-signed links: Google's file URIs want the key). Neither,
but an `Authorization` header: 401 `UNAUTHENTICATED`; nothing: 403 `PERMISSION_DENIED`. Checked
after the server-applied faults, before validation.

Errors: gemini's envelope `{"error": {"code", "message", "status"}}` (its `render_error`, so
the `code` and `retry_after` faults work the same). Validation: 400 `INVALID_ARGUMENT`.

Create. Body `{"instances": [{"prompt", "image"}], "parameters": {...}}` (top level also takes
`model`, a string, ignored: the URL's model is the one). Checked:

* the body is an object; other top-level names are a 400 (`Invalid JSON payload received.
  Unknown name ...`, as gemini answers);
* `instances`: a list of exactly one object (Veo makes one video per request here);
* `prompt`: a non-empty string; it may be left out only when `image` is given (image to video:
  the video is then made from an empty prompt);
* `image`: `{"bytesBase64Encoded": <base64 of a PNG, JPEG or WEBP, by its first bytes>,
  "mimeType": "image/png" | "image/jpeg" | "image/webp"}`, both required; checked, then
  ignored (the video does not depend on it);
* `parameters` (optional object): `aspectRatio` "16:9" (default) or "9:16"; `durationSeconds`
  4, 6 or 8 (default 8; a JSON number or the same as a string, since `parameters` is a
  protobuf Struct whose numbers are doubles: 8.0 is 8); `resolution` "720p" (default) or
  "1080p" (any combination, no per-model rules); `negativePrompt` a string; `personGeneration`
  "allow_all", "allow_adult" or "dont_allow"; `sampleCount` 1 (one video per operation);
  `seed` an integer 0..4294967295. `negativePrompt`, `personGeneration` and `seed` are checked,
  then ignored.
* Any other name in an instance, its image or `parameters` (`generateAudio`, `lastFrame`,
  `referenceImages`, `gcsUri`, ...) is a 400 "`<name>` isn't supported by this model ...", in
  the words the Gemini API uses for Vertex-only Veo fields.

The answer is `{"name": "models/<model>/operations/<id>"}`. Faults on the POST: the
server-applied ones (`latency_ms`, `hang_s`, `reset`, `status` with `code` and `retry_after`),
then `malformed` (half the JSON, status 200) and `cut_after` (announced length, half sent): the
operation exists all the same, only its name is lost. The `[sim ...]` directive is looked for
in `instances[0].prompt`. The job keys (faults.py) are fixed at creation from the POST's faults
(scope name, control API, `x-sim-fault`, directive): `job_ms` (default 600), `job` and
`download_ms`.

Poll. `GET .../models/<model>/operations/<id>` (under any scope; the model must be the
operation's, else 404 `NOT_FOUND`, like an unknown id). The timeline is openai_videos'
`job_state`, computed when read:

* running (queued or in progress, and forever with `job=stuck`): `{"name", "done": false}`;
* done (`job=ok`): `{"name", "done": true, "response": {"@type": RESPONSE_TYPE,
  "generateVideoResponse": {"generatedSamples": [{"video": {"uri": <download URL>}}]}}}`;
* failed (`job=fail`): `{"name", "done": true, "error": {"code": 400, "message": ...}}`;
* filtered (`job=filtered`): `{"name", "done": true, "response": {"@type": ...,
  "generateVideoResponse": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [...]}}}`,
  no samples: a gateway must treat it as failed (and refund).

Polls answer plainly (no `malformed` or `cut_after`); the protocol-neutral faults of their own
scope, control API and `x-sim-fault` header apply as to every endpoint.

Download. The URI is `http://<Host>[/s/<scope>]/v1beta/files/<file id>:download?alt=media`,
under the scope the operation was created in, so that scope's protocol-neutral faults (its
name, the control API) and the download's own `x-sim-fault` header apply to it (e.g. a `status`
fault fails it). It wants the API key; `alt=media` is required (else a 400: without it
Google's media endpoint does not send the bytes). The answer is a plain 200 (Google may
redirect first; clients must follow redirects) of `video/mp4`: openai_videos'
`video_mp4(model, prompt, str(durationSeconds), "<W>x<H>")` (`veo_mp4` gives it), 720p
1280x720 / 720x1280 and 1080p 1920x1080 / 1080x1920 by aspect ratio, so 16 KiB per second of
video. `download_ms` sends the headers at once and the bytes that much later; `malformed` sends
half of them. An unknown file id, or one whose operation is not done with a video: 404.

Operations live in memory, per process (not cleared by `/_sim/reset`): the last `MAX_JOBS`
(512), the oldest dropped with its file (a 404 after that).
"""

from __future__ import annotations

import binascii
import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.ark import scope_prefix
from simulator.endpoint import Call, Endpoint
from simulator.faults import ErrorInfo, find_directive
from simulator.gemini import (
    InvalidArgument,
    check_auth,
    decode_bytes,
    json_response,
    render_error,
)
from simulator.jsonshape import is_number, json_type
from simulator.openai_common import new_id
from simulator.openai_images import image_kind
from simulator.openai_videos import DEFAULT_JOB_MS, MAX_JOBS, job_state, send_download, video_mp4

RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
TOP_LEVEL = frozenset({"instances", "parameters", "model"})
INSTANCE_KEYS = frozenset({"prompt", "image"})
IMAGE_KEYS = frozenset({"bytesBase64Encoded", "mimeType"})
PARAMETERS = frozenset(
    {
        "aspectRatio",
        "durationSeconds",
        "resolution",
        "negativePrompt",
        "personGeneration",
        "sampleCount",
        "seed",
    }
)
ASPECT_RATIOS = ("16:9", "9:16")
DEFAULT_ASPECT_RATIO = "16:9"
DURATIONS = (4, 6, 8)
DEFAULT_DURATION = 8
RESOLUTIONS = ("720p", "1080p")
DEFAULT_RESOLUTION = "720p"
# (width, height) at 16:9; 9:16 swaps them.
FRAME_SIZES: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080)}
PERSON_GENERATION = ("allow_all", "allow_adult", "dont_allow")
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_SAMPLES = 1
MAX_SEED = 4_294_967_295
FAILED_CODE = 400
FAILED_MESSAGE = "Video generation failed (simulated by the `job=fail` fault)."
FILTERED_REASON = (
    "The generated video was blocked by the safety filters (simulated by the `job=filtered` fault)."
)
MODEL_PATH = "/v1beta/models/{model}"
FILES_PATH = "/v1beta/files"


# --- validation ------------------------------------------------------------------------------


def _unsupported(name: str) -> InvalidArgument:
    # The Gemini API's words for Veo fields it does not take (Vertex-only ones, e.g.
    # generateAudio); the simulator uses them for every unknown name below the top level.
    return InvalidArgument(
        f"`{name}` isn't supported by this model. Please remove it or refer to the Gemini API "
        "documentation for supported usage."
    )


def _object(value: Any, path: str, known: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"`{path}` must be an object, got {json_type(value)}.")
    for key in value:
        if key not in known:
            raise _unsupported(key)
    return value


def _choice(params: dict[str, Any], name: str, options: tuple[str, ...], default: str) -> str:
    value = params.get(name)
    if value is None:
        return default
    if value not in options:
        raise InvalidArgument(
            f"Unsupported value for `{name}`: {json.dumps(value)}. "
            f"Supported values: {', '.join(options)}."
        )
    return value


def _whole(value: Any) -> int | None:
    """A Struct number (a double) or a numeric string as an integer; None if it is neither."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if is_number(value) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def _integer(params: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    number = _whole(value)
    if number is None or not low <= number <= high:
        raise InvalidArgument(
            f"Invalid value for `{name}`: {json.dumps(value)}; expected an integer in "
            f"{low}..{high}."
        )
    return number


def _duration(params: dict[str, Any]) -> int:
    value = params.get("durationSeconds")
    if value is None:
        return DEFAULT_DURATION
    number = _whole(value)
    if number not in DURATIONS:
        raise InvalidArgument(
            f"Unsupported value for `durationSeconds`: {json.dumps(value)}. "
            f"Supported values: {', '.join(str(d) for d in DURATIONS)}."
        )
    return number


def _check_image(value: Any, path: str) -> None:
    image = _object(value, path, IMAGE_KEYS)
    data = image.get("bytesBase64Encoded")
    if data is None:
        raise InvalidArgument(f"`{path}.bytesBase64Encoded` is required.")
    if not isinstance(data, str):
        raise InvalidArgument(f"`{path}.bytesBase64Encoded` must be a string (base64).")
    try:
        decoded = decode_bytes(data)
    except binascii.Error:
        raise InvalidArgument(
            f"Invalid value at '{path}.bytesBase64Encoded' (TYPE_BYTES), Base64 decoding failed "
            f"for {json.dumps(data[:40])}"
        ) from None
    if image_kind(decoded) is None:
        raise InvalidArgument(
            f"`{path}.bytesBase64Encoded` is not a supported image: expected PNG, JPEG or WEBP."
        )
    mime = image.get("mimeType")
    if mime is None:
        raise InvalidArgument(f"`{path}.mimeType` is required.")
    if mime not in IMAGE_MIME_TYPES:
        raise InvalidArgument(
            f"Unsupported value for `{path}.mimeType`: {json.dumps(mime)}. "
            f"Supported values: {', '.join(IMAGE_MIME_TYPES)}."
        )


@dataclass(frozen=True, slots=True)
class VeoRequest:
    model: str
    prompt: str  # "" when an image came without one
    aspect_ratio: str
    duration: int
    resolution: str
    has_image: bool


def parse_request(model: str, body: Any) -> VeoRequest:
    """Check a predictLongRunning body (see the module docstring for the rules)."""
    if not isinstance(body, dict):
        raise InvalidArgument(
            "Invalid JSON payload received. Expected an object (PredictLongRunningRequest)."
        )
    for key in body:
        if key not in TOP_LEVEL:
            raise InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )
    if body.get("model") is not None and not isinstance(body["model"], str):
        raise InvalidArgument(
            f"Invalid value at 'model' (TYPE_STRING), {json.dumps(body['model'])}"
        )
    instances = body.get("instances")
    if instances is None or instances == []:
        raise InvalidArgument("`instances` is required: send one instance with a `prompt`.")
    if not isinstance(instances, list):
        raise InvalidArgument(
            f"Invalid value at 'instances' (type.googleapis.com/google.protobuf.ListValue), "
            f"{json.dumps(instances)[:100]}"
        )
    if len(instances) > 1:
        raise InvalidArgument(f"Only one instance is supported, got {len(instances)}.")
    instance = _object(instances[0], "instances[0]", INSTANCE_KEYS)
    has_image = instance.get("image") is not None
    if has_image:
        _check_image(instance["image"], "instances[0].image")
    prompt = instance.get("prompt")
    if prompt is None:
        if not has_image:
            raise InvalidArgument("`instances[0].prompt` is required (or give an `image`).")
        prompt = ""
    elif not isinstance(prompt, str):
        raise InvalidArgument(f"`instances[0].prompt` must be a string, got {json_type(prompt)}.")
    elif not prompt.strip():
        raise InvalidArgument("`instances[0].prompt` must not be empty.")

    params = body.get("parameters")
    params = {} if params is None else _object(params, "parameters", PARAMETERS)
    aspect_ratio = _choice(params, "aspectRatio", ASPECT_RATIOS, DEFAULT_ASPECT_RATIO)
    duration = _duration(params)
    resolution = _choice(params, "resolution", RESOLUTIONS, DEFAULT_RESOLUTION)
    negative = params.get("negativePrompt")
    if negative is not None and not isinstance(negative, str):
        raise InvalidArgument(f"`negativePrompt` must be a string, got {json_type(negative)}.")
    if params.get("personGeneration") is not None:
        _choice(params, "personGeneration", PERSON_GENERATION, "")
    _integer(params, "sampleCount", 1, MAX_SAMPLES)
    _integer(params, "seed", 0, MAX_SEED)
    return VeoRequest(model, prompt, aspect_ratio, duration, resolution, has_image)


# --- content ---------------------------------------------------------------------------------


def frame_size(
    resolution: str = DEFAULT_RESOLUTION, aspect_ratio: str = DEFAULT_ASPECT_RATIO
) -> tuple[int, int]:
    """(width, height) of a Veo video."""
    width, height = FRAME_SIZES[resolution]
    return (height, width) if aspect_ratio == "9:16" else (width, height)


def veo_mp4(
    model: str,
    prompt: str,
    duration: int = DEFAULT_DURATION,
    resolution: str = DEFAULT_RESOLUTION,
    aspect_ratio: str = DEFAULT_ASPECT_RATIO,
) -> bytes:
    """The MP4 the simulator serves for an operation (`prompt` as sent, "" if none). Public so
    that tests (the gateway's too) can compute the expected download directly."""
    width, height = frame_size(resolution, aspect_ratio)
    return video_mp4(model, prompt, str(duration), f"{width}x{height}")


# --- operations ------------------------------------------------------------------------------


@dataclass(slots=True)
class Operation:
    id: str
    file_id: str
    params: VeoRequest
    prefix: str  # "" or "/s/<scope>": where its download is served
    started: float  # time.monotonic()
    job_ms: int
    outcome: str  # "ok", "fail", "stuck" or "filtered"
    download_ms: int

    @property
    def name(self) -> str:
        return f"models/{self.params.model}/operations/{self.id}"


# One event loop: plain dicts are safe. Per process; oldest first.
_OPERATIONS: OrderedDict[str, Operation] = OrderedDict()
_FILES: dict[str, str] = {}  # file id -> operation id


def _store(operation: Operation) -> None:
    _OPERATIONS[operation.id] = operation
    _FILES[operation.file_id] = operation.id
    while len(_OPERATIONS) > MAX_JOBS:
        _, dropped = _OPERATIONS.popitem(last=False)
        _FILES.pop(dropped.file_id, None)


def _operation_object(operation: Operation, request: web.Request) -> dict[str, Any]:
    status, _ = job_state(operation, time.monotonic())
    payload: dict[str, Any] = {"name": operation.name}
    if status == "completed":
        uri = (
            f"{request.scheme}://{request.host}{operation.prefix}{FILES_PATH}/"
            f"{operation.file_id}:download?alt=media"
        )
        result = {"generatedSamples": [{"video": {"uri": uri}}]}
    elif status == "failed" and operation.outcome == "filtered":
        result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [FILTERED_REASON]}
    elif status == "failed":
        payload["done"] = True
        payload["error"] = {"code": FAILED_CODE, "message": FAILED_MESSAGE}
        return payload
    else:
        payload["done"] = False
        return payload
    payload["done"] = True
    payload["response"] = {"@type": RESPONSE_TYPE, "generateVideoResponse": result}
    return payload


def _plain_json(payload: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(payload).encode(), content_type="application/json")


def _not_found(what: str) -> web.Response:
    return render_error(ErrorInfo(404, f"{what} not found."))


# --- handlers --------------------------------------------------------------------------------


def directive(body: Any) -> str | None:
    """A `[sim ...]` directive in `instances[0].prompt`, if any."""
    if isinstance(body, dict):
        instances = body.get("instances")
        if isinstance(instances, list) and instances and isinstance(instances[0], dict):
            prompt = instances[0].get("prompt")
            if isinstance(prompt, str):
                return find_directive(prompt)
    return None


async def create(call: Call) -> web.StreamResponse:
    try:
        check_auth(call.request)
        params = parse_request(call.request.match_info["model"], call.body)
    except InvalidArgument as exc:
        return render_error(exc.info)
    faults = call.faults
    operation = Operation(
        id=new_id(""),
        file_id=new_id(""),
        params=params,
        prefix=scope_prefix(call.request, call.scope),
        started=time.monotonic(),
        job_ms=DEFAULT_JOB_MS if faults.job_ms is None else faults.job_ms,
        outcome=faults.job or "ok",
        download_ms=faults.download_ms or 0,
    )
    _store(operation)
    return await json_response(call, {"name": operation.name})


async def get_operation(call: Call) -> web.StreamResponse:
    try:
        check_auth(call.request)
    except InvalidArgument as exc:
        return render_error(exc.info)
    info = call.request.match_info
    operation = _OPERATIONS.get(info["operation"])
    if operation is None or operation.params.model != info["model"]:
        name = f"models/{info['model']}/operations/{info['operation']}"
        return _not_found(f"Operation {name[:200]}")
    return _plain_json(_operation_object(operation, call.request))


async def download(call: Call) -> web.StreamResponse:
    request = call.request
    try:
        check_auth(request)
    except InvalidArgument as exc:
        return render_error(exc.info)
    file_id = request.match_info["file"]
    operation = _OPERATIONS.get(_FILES.get(file_id, ""))
    if operation is None or job_state(operation, time.monotonic())[0] != "completed":
        return _not_found(f"File files/{file_id[:100]}")
    if request.query.get("alt") != "media":
        return render_error(
            ErrorInfo(400, "This method downloads media only: add the query parameter alt=media.")
        )
    params = operation.params
    data = veo_mp4(
        params.model, params.prompt, params.duration, params.resolution, params.aspect_ratio
    )
    if call.faults.malformed:
        data = data[: len(data) // 2]
    headers = {"cache-control": "no-store"}
    return await send_download(request, data, "video/mp4", headers, operation.download_ms)


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        MODEL_PATH + ":predictLongRunning",
        create,
        render_error,
        directive=directive,
        json_body=True,
    ),
    Endpoint("GET", MODEL_PATH + "/operations/{operation}", get_operation, render_error),
    Endpoint("GET", FILES_PATH + "/{file}:download", download, render_error),
]
