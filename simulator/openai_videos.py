"""OpenAI's Videos API (Sora 2 shape): asynchronous video jobs.

    POST   /v1/videos                      create a job (JSON or multipart/form-data)
    GET    /v1/videos                      list jobs, newest first (`limit`, `after`, `order`)
    GET    /v1/videos/{video_id}           the job with its current status and progress
    GET    /v1/videos/{video_id}/content   its bytes once completed (`variant`)
    DELETE /v1/videos/{video_id}           forget the job and its content

All of them are also under every scope (`/s/<scope>/v1/videos...`), like every endpoint.

The video object (what the official SDK's `Video` parses):

    {"id": "video_<hex>", "object": "video", "model": M, "status": S, "progress": P,
     "created_at": <unix>, "completed_at": <unix> | null, "expires_at": <unix> | null,
     "prompt": <as sent>, "seconds": "4" | "8" | "12", "size": "<W>x<H>", "quality": "standard",
     "remixed_from_video_id": null, "error": null | {"code", "message"}}

Job life, computed from the time elapsed since creation whenever the job is read (no
background task): over `job_ms` (default `DEFAULT_JOB_MS`, 600 ms, so tests stay fast) a job
is "queued" (progress 0) for the first fifth, then "in_progress" with progress rising from 0
towards 99, then "completed" (progress 100, `completed_at` = creation + job_ms, `expires_at` an
hour later: informational, the simulator never expires content). The POST always answers the
job as "queued", progress 0, like the real API; with `job_ms=0` the first GET finds it done.
Polls of a queued or in_progress job carry `openai-poll-after-ms` (a tenth of job_ms, 10..1000),
which the SDK's `videos.poll` / `create_and_poll` honour.

Content (deterministic, so a client can check what it downloads):

* `variant=video` (the default): `video/mp4`, a structurally valid ISO BMFF file of exactly
  `BYTES_PER_SECOND` (16 KiB) x seconds bytes: an `ftyp` box (major brand `isom`, minor version
  0x200, compatible brands isom, iso2, avc1, mp41), a `moov` box holding only a movie header
  (`mvhd`, version 0, timescale 1000, the duration `seconds`), then one `mdat` box whose
  payload is SHAKE-256 of SHA-256 over (model, prompt, seconds, size). No tracks: not
  playable, but a reader finds its length (so a finished video can be sent back as the input
  of Enhance Video).
  `video_mp4` gives the exact bytes for tests.
* `variant=thumbnail` and `variant=spritesheet`: `image/png`, a solid PNG of the video's size
  (the colour from the same hash and the variant); the real API sends WEBP and JPEG.
* Before completion the download is a 400 (`code: "video_not_ready"`, like other OpenAI state
  errors: the id exists, the request is just early); of a failed job, a 400 with
  `code: "video_generation_failed"`. An unknown id is a 404 (`code: "not_found"`) everywhere.

Jobs live in memory, per process (not cleared by `/_sim/reset`): the last `MAX_JOBS` (512),
the oldest dropped (a 404 after that). Content is not stored but made again on download (a
few are cached). A job is read, downloaded and deleted by id under any scope, but
`GET /v1/videos` lists only the jobs created under the same scope (a scope is the simulator's
"project"), so tests can list in a scope of their own. Any job can be deleted, whatever its
status (the real API only deletes completed or failed ones).

Faults. On the POST: the server-applied ones (`latency_ms`, `hang_s`, `reset`, `status` with
`retry_after` and `code`), then `malformed` (half the JSON, status 200) and `cut_after`
(announced length, half sent) as for embeddings. The `[sim ...]` directive is looked for in
`prompt`, JSON or form field; as the body is read by this module (it may be multipart), the
directive's server-level faults are applied here, after the others: its `latency_ms` and
`hang_s` top up what the scope and header already waited (the longer one wins), its `reset`
and `status` act as usual. The job keys `job_ms`, `job` (ok, fail, stuck) and `download_ms`
(see faults.py) are fixed at creation from the POST's faults:

* `job=fail`: the job ends at job_ms with status "failed", progress left where it was (99, or
  0 with job_ms=0), `completed_at` null, `error: {"code": "video_generation_failed", ...}`;
* `job=stuck`: it stays in_progress forever, progress capped at 99;
* `download_ms=N`: its content downloads send their headers at once, then wait N ms before
  the bytes (a client's read timeout fires, not its connect or first-byte one).

GETs (retrieve, list, content) and DELETE answer normally: the job keys, `malformed` and
`cut_after` do not touch them. The server applies the protocol-neutral faults of their own
scope, control-API configuration and `x-sim-fault` header to them as to every endpoint, so a
`status` fault configured on the scope (e.g. `PUT /_sim/scopes/<scope>` with
`{"status": 503, "times": 2}`) makes the next polls or a download fail, `latency_ms` slows
them, `reset` drops them.

Validation (400, OpenAI envelope, `param` set): a JSON body that does not parse or is not an
object, or a form that does not parse or repeats a field; unknown fields (`unknown_parameter`);
`prompt` missing, not a string or empty; `model` not a non-empty string (absent: "sora-2"; any
name is accepted); `seconds` not "4", "8" or "12" (JSON may send the integer; absent: "4");
`size` not one of `SIZES` (absent: "720x1280"; any size for any model); `input_reference` not
an image file (PNG, JPEG or WEBP, by its first bytes) in a form, nor an object with exactly one
of `image_url` / `file_id` (non-empty strings; in a form the fields `input_reference[image_url]`
or `input_reference[file_id]`, how multipart encoders flatten an object). The reference is
checked, then ignored. A video file (MP4 or MOV, by its `ftyp` box) is the input of a
video-to-video tool (Enhance Video): then `prompt` may be left out (""), `seconds` may be any
whole number from 1 to 600 (the input's length), `size` any WIDTHxHEIGHT up to 4096 a side,
and the content's hash also covers the input's SHA-256, so the output is the input's remake.
For list: `limit` not an integer in 1..100 (default 20), `order` not asc/desc (default desc),
`after` not a job of that scope's list. For content: `variant` not video/thumbnail/spritesheet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from simulator.endpoint import Call, Endpoint
from simulator.faults import (
    ErrorInfo,
    find_directive,
)
from simulator.jsonshape import is_int as _is_int
from simulator.jsonshape import json_type as _json_type
from simulator.openai_common import json_response, new_id, render_error
from simulator.openai_images import directive_faults, solid_png

DEFAULT_MODEL = "sora-2"
SECONDS = ("4", "8", "12")
DEFAULT_SECONDS = "4"
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
DEFAULT_SIZE = "720x1280"
QUALITY = "standard"
KNOWN_PARAMS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
REFERENCE_KEYS = ("image_url", "file_id")
VARIANTS = ("video", "thumbnail", "spritesheet")
ORDERS = ("asc", "desc")
DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT = 20, 100

DEFAULT_JOB_MS = 600
QUEUED_FRACTION = 0.2  # of job_ms spent "queued"
MAX_PROGRESS_UNFINISHED = 99
ASSET_TTL_S = 3600  # expires_at - completed_at (informational)
BYTES_PER_SECOND = 16 * 1024  # of video: the MP4 is exactly this many bytes per second
MAX_JOBS = 512
MAX_VIDEO_INPUT_SECONDS = 600
BASE_PATH = "/v1/videos"
FAILED_MESSAGE = "Video generation failed (simulated by the `job=fail` fault)."

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means "
    "you aren't using your HTTP library correctly.)"
)


class InvalidRequest(Exception):
    def __init__(self, message: str, *, param: str | None, code: str | None = None):
        super().__init__(message)
        self.info = ErrorInfo(400, message, code=code, param=param)


@dataclass(frozen=True, slots=True)
class VideoParams:
    model: str
    prompt: str
    seconds: str
    size: str
    reference: str | None  # "file", "video", "image_url", "file_id" or None
    source: str = ""  # SHA-256 hex of an input video: what the output is made from


@dataclass(slots=True)
class Job:
    id: str
    scope: str  # the scope it was created under: what `GET /v1/videos` lists
    params: VideoParams
    created: float  # time.time()
    started: float  # time.monotonic()
    job_ms: int
    outcome: str  # "ok", "fail" or "stuck"
    download_ms: int


# --- validation ------------------------------------------------------------------------------


def _values(options: tuple[str, ...]) -> str:
    quoted = [f"'{o}'" for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _wrong_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(param: str, value: Any, options: tuple[str, ...]) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid value: {json.dumps(value)}. Supported values are: {_values(options)}.",
        param=param,
        code="invalid_value",
    )


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequest(
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    if not isinstance(prompt, str):
        raise _wrong_type("prompt", "a string", prompt)
    if not prompt:
        raise InvalidRequest(
            "Invalid 'prompt': empty string. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="prompt",
            code="empty_string",
        )
    return prompt


def _seconds(body: dict[str, Any], *, any_length: bool = False) -> str:
    """One of SECONDS; with an input video (`any_length`), any whole number up to
    MAX_VIDEO_INPUT_SECONDS, the length of the video it remakes."""
    value = body.get("seconds")
    if value is None:
        return DEFAULT_SECONDS
    if _is_int(value):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _wrong_type("seconds", "a string", value)
    if any_length and text.isdigit() and 1 <= int(text) <= MAX_VIDEO_INPUT_SECONDS:
        return str(int(text))
    if text not in SECONDS:
        raise _invalid_value("seconds", value, SECONDS)
    return text


def _size(body: dict[str, Any], *, any_size: bool = False) -> str:
    """One of SIZES; with an input video (`any_size`), any WIDTHxHEIGHT up to 4096 a side."""
    value = body.get("size")
    if value is None:
        return DEFAULT_SIZE
    if not isinstance(value, str):
        raise _wrong_type("size", "a string", value)
    width, x, height = value.partition("x")
    if any_size and x and width.isdigit() and height.isdigit():
        if 16 <= int(width) <= 4096 and 16 <= int(height) <= 4096:
            return f"{int(width)}x{int(height)}"
    if value not in SIZES:
        raise _invalid_value("size", value, SIZES)
    return value


def _is_image(data: bytes) -> bool:
    return (
        data.startswith(b"\x89PNG\r\n\x1a\n")
        or data.startswith(b"\xff\xd8\xff")
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def _reference(body: dict[str, Any]) -> tuple[str | None, str]:
    """What the reference is, and for a video the SHA-256 hex of its bytes."""
    value = body.get("input_reference")
    if value is None:
        return None, ""
    if isinstance(value, web.FileField):
        data = value.file.read()
        if data[4:8] == b"ftyp":  # an MP4/MOV: the input of a video-to-video tool
            return "video", hashlib.sha256(data).hexdigest()
        if not _is_image(data[:16]):
            raise InvalidRequest(
                "Invalid file 'input_reference': expected a JPEG, PNG or WEBP image, or an "
                "MP4 or MOV video.",
                param="input_reference",
                code="invalid_image_format",
            )
        return "file", ""
    if not isinstance(value, dict):
        raise _wrong_type("input_reference", "a file or an object", value)
    for key in value:
        if key not in REFERENCE_KEYS:
            raise InvalidRequest(
                f"Unknown parameter: 'input_reference.{key}'.",
                param=f"input_reference.{key}",
                code="unknown_parameter",
            )
    given = [key for key in REFERENCE_KEYS if value.get(key) is not None]
    if len(given) != 1:
        raise InvalidRequest(
            "Invalid 'input_reference': give exactly one of 'image_url' and 'file_id'.",
            param="input_reference",
            code="invalid_value",
        )
    key = given[0]
    if not isinstance(value[key], str) or not value[key]:
        raise _wrong_type(f"input_reference.{key}", "a non-empty string", value[key])
    return key, ""


def parse_request(body: Any) -> VideoParams:
    """Validate like api.openai.com does (same messages, params and codes where we know them)."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}.",
            param=None,
            code="invalid_type",
        )
    for key in body:
        if key not in KNOWN_PARAMS:
            raise InvalidRequest(
                f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter"
            )
    reference, source = _reference(body)
    prompt = "" if reference == "video" and body.get("prompt") is None else _prompt(body)
    model = body.get("model")
    if model is None:
        model = DEFAULT_MODEL
    elif not isinstance(model, str) or not model:
        raise _wrong_type("model", "a non-empty string", model)
    return VideoParams(
        model=model,
        prompt=prompt,
        seconds=_seconds(body, any_length=reference == "video"),
        size=_size(body, any_size=reference == "video"),
        reference=reference,
        source=source,
    )


async def _read_body(request: web.Request) -> Any:
    """The JSON body, or a form's fields as a dict (`input_reference[key]` fields nested, a
    file part as its `FileField`)."""
    if request.content_type not in _FORM_TYPES:
        try:
            return json.loads(await request.read())
        except ValueError:
            raise InvalidRequest(_BAD_JSON, param=None) from None
    try:
        form = await request.post()
    except (ValueError, HttpProcessingError):  # a broken multipart body
        raise InvalidRequest(
            "We could not parse the form body of your request.", param=None
        ) from None
    body: dict[str, Any] = {}
    for key, value in form.items():
        if key.startswith("input_reference[") and key.endswith("]"):
            reference = body.setdefault("input_reference", {})
            if not isinstance(reference, dict):
                raise InvalidRequest(
                    "Invalid 'input_reference': a file and reference fields both given.",
                    param="input_reference",
                    code="invalid_value",
                )
            reference[key[len("input_reference[") : -1]] = value
        elif key in body:
            raise InvalidRequest(
                f"Duplicate parameter: '{key}'.", param=key, code="duplicate_parameter"
            )
        else:
            body[key] = value
    return body


# --- content ---------------------------------------------------------------------------------

# ftyp: size, type, major brand, minor version, compatible brands (what ffmpeg writes).
_FTYP = struct.pack(">I4s4sI", 32, b"ftyp", b"isom", 0x200) + b"isomiso2avc1mp41"


def _seed(model: str, prompt: str, seconds: str, size: str, source: str = "") -> bytes:
    key = f"{model}\x00{prompt}\x00{seconds}\x00{size}"
    if source:
        key += f"\x00{source}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@lru_cache(maxsize=8)
def video_mp4(
    model: str, prompt: str, seconds: str = "4", size: str = "720x1280", source: str = ""
) -> bytes:
    """The MP4 the simulator serves for a job with these parameters (`source`: the SHA-256
    hex of the input video, for a job that remakes one).

    Public so that tests (the gateway's too) can compute the expected download directly."""
    total = BYTES_PER_SECOND * int(seconds)
    mvhd_body = struct.pack(">B3xIIII", 0, 0, 0, 1000, 1000 * int(seconds)) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    head = len(_FTYP) + len(moov) + 8
    payload = hashlib.shake_256(_seed(model, prompt, seconds, size, source)).digest(total - head)
    return _FTYP + moov + struct.pack(">I4s", 8 + len(payload), b"mdat") + payload


def preview_png(model: str, prompt: str, seconds: str, size: str, variant: str) -> bytes:
    """The PNG served as the `thumbnail` or `spritesheet` variant of a job."""
    width, height = (int(side) for side in size.split("x"))
    colour = hashlib.sha256(_seed(model, prompt, seconds, size) + variant.encode()).digest()[:3]
    return solid_png(width, height, colour)


# --- jobs ------------------------------------------------------------------------------------

# One event loop: a plain dict is safe. Per process, like the id counter; oldest first.
_JOBS: OrderedDict[str, Job] = OrderedDict()


class TimedJob(Protocol):
    """What `job_state` reads of a job."""

    started: float  # time.monotonic() at creation
    job_ms: int
    outcome: str  # "ok", "fail" or "stuck"


def job_state(job: TimedJob, now: float) -> tuple[str, int]:
    """(status, progress) of a job at monotonic time `now`: "queued", "in_progress",
    "completed" or "failed". Reads only `job.started` (monotonic), `job.job_ms` and
    `job.outcome`, so other modules' jobs with those attributes (`ark`) share the timeline."""
    elapsed_ms = (now - job.started) * 1000
    duration = job.job_ms
    queued_ms = duration * QUEUED_FRACTION
    if elapsed_ms >= duration and job.outcome != "stuck":
        if job.outcome == "ok":
            return "completed", 100
        # Failed where it was: the progress of the last moment before the end.
        return "failed", MAX_PROGRESS_UNFINISHED if duration > queued_ms else 0
    if elapsed_ms < queued_ms:
        return "queued", 0
    span = duration - queued_ms
    if span <= 0:
        return "in_progress", MAX_PROGRESS_UNFINISHED
    return "in_progress", min(MAX_PROGRESS_UNFINISHED, int(100 * (elapsed_ms - queued_ms) / span))


def _video_object(job: Job, status: str, progress: int) -> dict[str, Any]:
    completed_at = expires_at = None
    if status == "completed":
        completed_at = int(job.created + job.job_ms / 1000)
        expires_at = completed_at + ASSET_TTL_S
    error = None
    if status == "failed":
        error = {"code": "video_generation_failed", "message": FAILED_MESSAGE}
    params = job.params
    return {
        "id": job.id,
        "object": "video",
        "model": params.model,
        "status": status,
        "progress": progress,
        "created_at": int(job.created),
        "completed_at": completed_at,
        "expires_at": expires_at,
        "prompt": params.prompt,
        "seconds": params.seconds,
        "size": params.size,
        "quality": QUALITY,
        "remixed_from_video_id": None,
        "error": error,
    }


def _current(job: Job) -> dict[str, Any]:
    return _video_object(job, *job_state(job, time.monotonic()))


def _plain_json(payload: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    """A JSON 200 with no body faults: what every GET and DELETE answers."""
    return web.Response(
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers={"x-request-id": new_id("req_"), **(headers or {})},
    )


def _not_found(video_id: str) -> web.Response:
    return render_error(
        ErrorInfo(404, f"Video with id '{video_id[:100]}' not found.", code="not_found")
    )


def _job(call: Call) -> Job | None:
    return _JOBS.get(call.request.match_info["video_id"])


def _poll_after_ms(job: Job) -> int:
    return max(10, min(1000, job.job_ms // 10))


# --- handlers --------------------------------------------------------------------------------


def directive(body: Any) -> str | None:
    """A `[sim ...]` directive in the prompt, if any."""
    if isinstance(body, dict):
        prompt = body.get("prompt")
        if isinstance(prompt, str):
            return find_directive(prompt)
    return None


async def create(call: Call) -> web.StreamResponse:
    try:
        body = await _read_body(call.request)
    except InvalidRequest as exc:
        return render_error(exc.info)
    faults = call.faults
    spec = directive(body)
    if spec is not None:
        faults, early = await directive_faults(call, spec)
        if early is not None:
            return early
    try:
        params = parse_request(body)
    except InvalidRequest as exc:
        return render_error(exc.info)

    job = Job(
        id=new_id("video_"),
        scope=call.scope,
        params=params,
        created=time.time(),
        started=time.monotonic(),
        job_ms=DEFAULT_JOB_MS if faults.job_ms is None else faults.job_ms,
        outcome=faults.job or "ok",
        download_ms=faults.download_ms or 0,
    )
    _JOBS[job.id] = job
    while len(_JOBS) > MAX_JOBS:
        _JOBS.popitem(last=False)
    # The creation answer is always the queued job, whatever job_ms (as the real API answers).
    return await json_response(
        dataclasses.replace(call, faults=faults), _video_object(job, "queued", 0)
    )


async def retrieve(call: Call) -> web.StreamResponse:
    job = _job(call)
    if job is None:
        return _not_found(call.request.match_info["video_id"])
    payload = _current(job)
    headers = None
    if payload["status"] in ("queued", "in_progress"):
        headers = {"openai-poll-after-ms": str(_poll_after_ms(job))}
    return _plain_json(payload, headers)


async def delete(call: Call) -> web.StreamResponse:
    video_id = call.request.match_info["video_id"]
    if _JOBS.pop(video_id, None) is None:
        return _not_found(video_id)
    return _plain_json({"id": video_id, "object": "video.deleted", "deleted": True})


def _list_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIST_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise InvalidRequest(
            f"Invalid 'limit': expected an integer, but got {json.dumps(text)} instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequest(
            f"Invalid 'limit': expected a value between 1 and {MAX_LIST_LIMIT}, "
            f"but got {limit} instead.",
            param="limit",
            code="invalid_value",
        )
    return limit


async def list_videos(call: Call) -> web.StreamResponse:
    query = call.request.query
    try:
        limit = _list_limit(query.get("limit"))
        order = query.get("order", "desc")
        if order not in ORDERS:
            raise _invalid_value("order", order, ORDERS)
    except InvalidRequest as exc:
        return render_error(exc.info)
    jobs = [job for job in _JOBS.values() if job.scope == call.scope]
    if order == "desc":
        jobs.reverse()
    after = query.get("after")
    if after is not None:
        index = next((i for i, job in enumerate(jobs) if job.id == after), None)
        if index is None:
            return render_error(
                ErrorInfo(
                    400,
                    f"Invalid 'after': no video with id '{after[:100]}' in this list.",
                    param="after",
                    code="invalid_value",
                )
            )
        jobs = jobs[index + 1 :]
    page = jobs[:limit]
    now = time.monotonic()
    data = [_video_object(job, *job_state(job, now)) for job in page]
    return _plain_json(
        {
            "object": "list",
            "data": data,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(jobs) > limit,
        }
    )


async def content(call: Call) -> web.StreamResponse:
    job = _job(call)
    if job is None:
        return _not_found(call.request.match_info["video_id"])
    variant = call.request.query.get("variant", "video")
    if variant not in VARIANTS:
        return render_error(_invalid_value("variant", variant, VARIANTS).info)
    status, _ = job_state(job, time.monotonic())
    if status == "failed":
        return render_error(
            ErrorInfo(
                400,
                f"Video {job.id} failed to generate: there is no content to download.",
                code="video_generation_failed",
            )
        )
    if status != "completed":
        return render_error(
            ErrorInfo(
                400,
                f"Video {job.id} is not ready yet (status: {status}): poll "
                f"GET /v1/videos/{job.id} until it is completed.",
                code="video_not_ready",
            )
        )
    params = job.params
    if variant == "video":
        data = video_mp4(params.model, params.prompt, params.seconds, params.size, params.source)
        content_type = "video/mp4"
    else:
        data = preview_png(params.model, params.prompt, params.seconds, params.size, variant)
        content_type = "image/png"
    headers = {"cache-control": "no-store", "x-request-id": new_id("req_")}
    return await send_download(call.request, data, content_type, headers, job.download_ms)


async def send_download(
    request: web.Request, data: bytes, content_type: str, headers: dict[str, str], delay_ms: int
) -> web.StreamResponse:
    """A 200 carrying `data`; with `delay_ms`, the headers (Content-Length included) at once,
    then the bytes that much later: a slow download (the `download_ms` fault). Public for the
    other modules that serve job results (`ark`)."""
    if not delay_ms:
        return web.Response(body=data, content_type=content_type, headers=headers)
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = content_type
    response.content_length = len(data)
    try:
        await response.prepare(request)
        await asyncio.sleep(delay_ms / 1000)
        await response.write(data)
        await response.write_eof()
    except ConnectionError:
        pass  # the client gave up waiting; nothing left to tell it
    return response


ENDPOINTS: list[Endpoint] = [
    # No json_body: the body may be multipart, so `create` reads it (and the directive) itself.
    Endpoint("POST", BASE_PATH, create, render_error),
    Endpoint("GET", BASE_PATH, list_videos, render_error),
    Endpoint("GET", BASE_PATH + "/{video_id}", retrieve, render_error),
    Endpoint("DELETE", BASE_PATH + "/{video_id}", delete, render_error),
    Endpoint("GET", BASE_PATH + "/{video_id}/content", content, render_error),
]
