"""The simulator's ByteDance Ark / BytePlus ModelArk endpoints (Seedream images, Seedance video
tasks, the pre-signed video downloads, chat), over real HTTP.

One simulator process serves the whole module; every test starts from a reset (tasks survive a
reset, so tests keep to the ids they create). No Django.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
import requests

from simulator.ark import (
    FRAME_SIZES,
    completion_tokens,
    last_frame_png,
    seedance_mp4,
    seedream_png,
)
from simulator.openai_images import solid_png
from simulator.openai_videos import BYTES_PER_SECOND
from simulator.testing import SimulatorProcess

AUTH = {"Authorization": "Bearer ark-test-key"}
IMAGE_MODEL = "seedream-4-0-250828"
VIDEO_MODEL = "seedance-1-0-pro-250528"
PROMPT = "A lighthouse on a cliff at dusk"
TEXT = "A cat surfing a wave"
PNG = solid_png(8, 8, b"\x10\x20\x30")
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
JPEG_DATA_URL = (
    "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(12)).decode()
)
HTTPS_URL = "https://example.com/ref.png"
TASK_KEYS = {
    "id",
    "model",
    "status",
    "seed",
    "resolution",
    "ratio",
    "duration",
    "framespersecond",
    "error",
    "created_at",
    "updated_at",
}


def unique_scope(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def api(sim: SimulatorProcess, scope: str | None = None) -> str:
    return sim.url(scope, suffix="/api/v3")


def post(
    http: requests.Session,
    sim: SimulatorProcess,
    path: str,
    body: Any,
    *,
    scope: str | None = None,
    faults: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> requests.Response:
    headers = {**AUTH, **(headers or {})}
    if faults is not None:
        headers["x-sim-fault"] = faults
    return http.post(api(sim, scope) + path, json=body, headers=headers, timeout=timeout)


def generate(
    http: requests.Session, sim: SimulatorProcess, *, faults: str | None = None, **body: Any
) -> requests.Response:
    body.setdefault("model", IMAGE_MODEL)
    body.setdefault("prompt", PROMPT)
    return post(http, sim, "/images/generations", body, faults=faults)


def generated(http: requests.Session, sim: SimulatorProcess, **body: Any) -> dict[str, Any]:
    response = generate(http, sim, **body)
    assert response.status_code == 200, response.text
    return response.json()


def b64_images(payload: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(item["b64_json"]) for item in payload["data"]]


def task_body(text: str = TEXT, **body: Any) -> dict[str, Any]:
    body.setdefault("model", VIDEO_MODEL)
    body.setdefault("content", [{"type": "text", "text": text}])
    return body


def create(
    http: requests.Session,
    sim: SimulatorProcess,
    body: Any = None,
    *,
    scope: str | None = None,
    faults: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    body = task_body() if body is None else body
    return post(
        http, sim, "/contents/generations/tasks", body, scope=scope, faults=faults, headers=headers
    )


def created(http: requests.Session, sim: SimulatorProcess, body: Any = None, **kwargs) -> str:
    response = create(http, sim, body, **kwargs)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == {"id"}
    return payload["id"]


def get_task(
    http: requests.Session, sim: SimulatorProcess, task_id: str, scope: str | None = None, **kw
) -> requests.Response:
    kw.setdefault("headers", AUTH)
    kw.setdefault("timeout", 5)
    return http.get(f"{api(sim, scope)}/contents/generations/tasks/{task_id}", **kw)


def wait_for(
    http: requests.Session, sim: SimulatorProcess, task_id: str, statuses: set[str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        task = get_task(http, sim, task_id).json()
        if task["status"] in statuses or time.monotonic() > deadline:
            return task
        time.sleep(0.02)


def assert_error(
    response: requests.Response, status: int, code: str, param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "param", "type"}
    assert error["code"] == code
    assert "Request id: " in error["message"]
    if param is not None:
        assert error["param"] == param
    return error


# --- Seedream ---------------------------------------------------------------------------------


def test_image_defaults_to_one_2k_url(http, sim):
    payload = generated(http, sim)
    assert set(payload) == {"model", "created", "data", "usage"}
    assert payload["model"] == IMAGE_MODEL
    assert abs(payload["created"] - time.time()) < 60
    assert payload["usage"] == {
        "generated_images": 1,
        "output_tokens": 16384,
        "total_tokens": 16384,
    }
    [item] = payload["data"]
    assert set(item) == {"url", "size"}
    assert item["size"] == "2048x2048"
    assert item["url"].startswith(f"{sim.base_url}/_sim/images/")
    fetched = http.get(item["url"], timeout=5)  # no auth: a plain link
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.content == seedream_png(IMAGE_MODEL, PROMPT, 0)


@pytest.mark.parametrize(
    ("size", "answered", "tokens"),
    [
        ("1K", "1024x1024", 4096),
        ("2K", "2048x2048", 16384),
        ("4K", "4096x4096", 65536),
        ("2k", "2048x2048", 16384),
        ("1280x720", "1280x720", 3600),
        ("64x96", "64x96", 24),
    ],
)
def test_image_sizes_as_b64(http, sim, size, answered, tokens):
    payload = generated(http, sim, size=size, response_format="b64_json")
    [item] = payload["data"]
    assert set(item) == {"b64_json", "size"}
    assert item["size"] == answered
    assert payload["usage"]["output_tokens"] == tokens == payload["usage"]["total_tokens"]
    [png] = b64_images(payload)
    assert png == seedream_png(IMAGE_MODEL, PROMPT, 0, answered)
    width, height = (int(side) for side in answered.split("x"))
    assert png[16:24] == width.to_bytes(4, "big") + height.to_bytes(4, "big")  # IHDR


def test_image_is_deterministic_per_model_and_prompt(http, sim):
    first = b64_images(generated(http, sim, size="1K", response_format="b64_json"))
    again = b64_images(generated(http, sim, size="1K", response_format="b64_json"))
    other = b64_images(
        generated(http, sim, size="1K", response_format="b64_json", prompt=PROMPT + "!")
    )
    model = b64_images(
        generated(http, sim, size="1K", response_format="b64_json", model="ep-20250101-x")
    )
    assert first == again
    assert other != first and model != first


def test_sequential_group_generation(http, sim):
    options = {"max_images": 4}
    payload = generated(
        http,
        sim,
        size="1K",
        response_format="b64_json",
        sequential_image_generation="auto",
        sequential_image_generation_options=options,
    )
    images = b64_images(payload)
    assert images == [seedream_png(IMAGE_MODEL, PROMPT, i, "1K") for i in range(4)]
    assert len(set(images)) == 4
    assert payload["usage"] == {
        "generated_images": 4,
        "output_tokens": 4 * 4096,
        "total_tokens": 4 * 4096,
    }
    # Disabled (the default) or auto without max_images: one image.
    for body in (
        {"sequential_image_generation_options": options},
        {"sequential_image_generation": "disabled", "sequential_image_generation_options": options},
        {"sequential_image_generation": "auto"},
    ):
        assert len(generated(http, sim, size="1K", **body)["data"]) == 1
    # Input and generated images stay within 15 together.
    capped = generated(
        http,
        sim,
        size="1K",
        image=[HTTPS_URL] * 10,
        sequential_image_generation="auto",
        sequential_image_generation_options={"max_images": 15},
    )
    assert len(capped["data"]) == 5
    assert capped["usage"]["generated_images"] == 5


def test_input_images_change_the_result(http, sim):
    refs = [DATA_URL, HTTPS_URL, JPEG_DATA_URL]
    payload = generated(http, sim, size="1K", response_format="b64_json", image=refs)
    [png] = b64_images(payload)
    assert png == seedream_png(IMAGE_MODEL, PROMPT, 0, "1K", refs)
    assert png != seedream_png(IMAGE_MODEL, PROMPT, 0, "1K")
    assert png != seedream_png(IMAGE_MODEL, PROMPT, 0, "1K", list(reversed(refs)))
    # One image as a string is the same as a list of one.
    single = generated(http, sim, size="1K", response_format="b64_json", image=DATA_URL)
    listed = generated(http, sim, size="1K", response_format="b64_json", image=[DATA_URL])
    assert b64_images(single) == b64_images(listed)
    assert b64_images(single) == [seedream_png(IMAGE_MODEL, PROMPT, 0, "1K", [DATA_URL])]


def test_image_accepts_the_documented_optional_fields(http, sim):
    payload = generated(
        http,
        sim,
        size="1K",
        watermark=False,
        stream=False,
        seed=-1,
        guidance_scale=2.5,
        response_format="url",
    )
    assert len(payload["data"]) == 1


WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(8)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"model": None}, "MissingParameter", "model"),
        ({"prompt": None}, "MissingParameter", "prompt"),
        ({"model": ""}, "InvalidParameter", "model"),
        ({"prompt": 5}, "InvalidParameter", "prompt"),
        ({"n": 2}, "InvalidParameter", "n"),
        ({"size": "auto"}, "InvalidParameter", "size"),
        ({"size": "8K"}, "InvalidParameter", "size"),
        ({"size": "5000x1000"}, "InvalidParameter", "size"),
        ({"size": 1024}, "InvalidParameter", "size"),
        ({"image": "data:image/png;base64,not base64!"}, "InvalidParameter", "image"),
        ({"image": "data:image/png;base64," + base64.b64encode(b"GIF89a....").decode()},
         "InvalidParameter", "image"),
        ({"image": "ftp://example.com/a.png"}, "InvalidParameter", "image"),
        ({"image": base64.b64encode(PNG).decode()}, "InvalidParameter", "image"),
        ({"image": []}, "InvalidParameter", "image"),
        ({"image": [HTTPS_URL] * 11}, "InvalidParameter", "image"),
        ({"image": [HTTPS_URL, 3]}, "InvalidParameter", "image"),
        ({"image": {"url": HTTPS_URL}}, "InvalidParameter", "image"),
        ({"sequential_image_generation": "on"}, "InvalidParameter",
         "sequential_image_generation"),
        ({"sequential_image_generation_options": {"max_images": 16}}, "InvalidParameter",
         "sequential_image_generation_options.max_images"),
        ({"sequential_image_generation_options": {"max_images": 0}}, "InvalidParameter",
         "sequential_image_generation_options.max_images"),
        ({"sequential_image_generation_options": {"count": 2}}, "InvalidParameter",
         "sequential_image_generation_options.count"),
        ({"sequential_image_generation_options": 4}, "InvalidParameter",
         "sequential_image_generation_options"),
        ({"response_format": "png"}, "InvalidParameter", "response_format"),
        ({"watermark": "no"}, "InvalidParameter", "watermark"),
        ({"stream": True}, "InvalidParameter", "stream"),
        ({"seed": 2**31}, "InvalidParameter", "seed"),
        ({"seed": 1.5}, "InvalidParameter", "seed"),
        ({"guidance_scale": 11}, "InvalidParameter", "guidance_scale"),
        ({"guidance_scale": "2"}, "InvalidParameter", "guidance_scale"),
    ],
)  # fmt: skip
def test_image_validation(http, sim, body, code, param):
    full = {"model": IMAGE_MODEL, "prompt": PROMPT, **body}
    full = {key: value for key, value in full.items() if value is not None}
    error = assert_error(post(http, sim, "/images/generations", full), 400, code, param)
    assert error["type"] == "BadRequest"


def test_image_data_url_formats(http, sim):
    for mime, data in (("png", PNG), ("jpeg", b"\xff\xd8\xff" + bytes(13)), ("webp", WEBP)):
        url = f"data:image/{mime};base64," + base64.b64encode(data).decode()
        assert generate(http, sim, size="1K", image=url).status_code == 200


def test_image_body_must_be_an_object_of_json(http, sim):
    assert_error(post(http, sim, "/images/generations", [PROMPT]), 400, "InvalidParameter")
    response = http.post(
        api(sim) + "/images/generations", data=b"{not json", headers=AUTH, timeout=5
    )
    assert_error(response, 400, "InvalidParameter")


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer   ", "Basic abc", "key"])
def test_auth_is_required(http, sim, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"model": IMAGE_MODEL, "prompt": PROMPT}
    response = http.post(api(sim) + "/images/generations", json=body, headers=headers, timeout=5)
    error = assert_error(response, 401, "AuthenticationError")
    assert error["type"] == "Unauthorized"
    response = http.post(
        api(sim) + "/contents/generations/tasks", json=task_body(), headers=headers, timeout=5
    )
    assert_error(response, 401, "AuthenticationError")
    task_id = created(http, sim)
    assert_error(get_task(http, sim, task_id, headers=headers), 401, "AuthenticationError")
    url = f"{api(sim)}/contents/generations/tasks/{task_id}"
    assert_error(http.delete(url, headers=headers, timeout=5), 401, "AuthenticationError")


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "InvalidParameter", "BadRequest"),
        (403, "AccessDenied", "Forbidden"),
        (404, "InvalidEndpoint.NotFound", "NotFound"),
        (429, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests"),
        (500, "InternalServiceError", "InternalServerError"),
        (503, "ServerOverloaded", "ServiceUnavailable"),
        (502, "InternalServiceError", "BadGateway"),
    ],
)
def test_image_status_faults_use_ark_codes(http, sim, status, code, kind):
    response = generate(http, sim, faults=f"status={status}")
    error = assert_error(response, status, code)
    assert error["type"] == kind
    assert ("retry-after" in response.headers) == (status == 429)


def test_image_fault_code_and_retry_after(http, sim):
    response = generate(http, sim, faults="status=429 code=QuotaExceeded retry_after=7")
    assert_error(response, 429, "QuotaExceeded")
    assert response.headers["retry-after"] == "7"
    # The directive in the prompt works too, and the scope's faults.
    assert_error(generate(http, sim, prompt="hi [sim status=500]"), 500, "InternalServiceError")
    scope = unique_scope("ark-img")
    sim.set_fault(scope, status=503, times=1)
    body = {"model": IMAGE_MODEL, "prompt": PROMPT, "size": "1K"}
    assert_error(post(http, sim, "/images/generations", body, scope=scope), 503, "ServerOverloaded")
    assert post(http, sim, "/images/generations", body, scope=scope).status_code == 200


def test_image_connection_faults(http, sim):
    started = time.monotonic()
    assert generate(http, sim, size="1K", faults="latency_ms=200").status_code == 200
    assert time.monotonic() - started >= 0.2
    with pytest.raises(requests.ReadTimeout):
        post(
            http,
            sim,
            "/images/generations",
            {"model": IMAGE_MODEL, "prompt": PROMPT},
            faults="hang_s=5",
            timeout=0.3,
        )
    with pytest.raises(requests.ConnectionError):
        generate(http, sim, faults="reset")
    malformed = generate(http, sim, size="1K", faults="malformed")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        json.loads(malformed.content)


def test_image_images_fault_delivers_fewer(http, sim):
    group = {
        "size": "1K",
        "sequential_image_generation": "auto",
        "sequential_image_generation_options": {"max_images": 4},
    }
    response = generate(http, sim, faults="images=2", response_format="b64_json", **group)
    payload = response.json()
    assert b64_images(payload) == [seedream_png(IMAGE_MODEL, PROMPT, i, "1K") for i in range(2)]
    assert payload["usage"] == {"generated_images": 2, "output_tokens": 8192, "total_tokens": 8192}
    none = generate(http, sim, faults="images=0", **group).json()
    assert none["data"] == []
    assert none["usage"]["generated_images"] == 0


# --- Seedance: task life cycle ----------------------------------------------------------------


def test_task_life_cycle(http, sim):
    scope = unique_scope("ark-life")
    task_id = created(http, sim, task_body(TEXT + " [sim job_ms=1000]"), scope=scope)
    assert task_id.startswith("cgt-")
    first = get_task(http, sim, task_id).json()
    assert set(first) == TASK_KEYS
    assert first["status"] == "queued"
    assert first["model"] == VIDEO_MODEL
    assert first["error"] is None
    assert (first["resolution"], first["ratio"], first["duration"]) == ("720p", "16:9", 5)
    assert first["framespersecond"] == 24
    assert abs(first["created_at"] - time.time()) < 60
    assert first["updated_at"] == first["created_at"]

    running = wait_for(http, sim, task_id, {"running", "succeeded"})
    assert running["status"] == "running"
    assert set(running) == TASK_KEYS  # no content, no usage yet

    done = wait_for(http, sim, task_id, {"succeeded"})
    assert set(done) == TASK_KEYS | {"content", "usage"}
    assert done["error"] is None
    tokens = completion_tokens("720p", "16:9", 5)
    assert tokens == 1248 * 704 * 121 // 1024
    assert done["usage"] == {"completion_tokens": tokens, "total_tokens": tokens}
    url = done["content"]["video_url"]
    assert set(done["content"]) == {"video_url"}
    assert url == f"{sim.url(scope, suffix='')}/_sim/ark/videos/{task_id}.mp4"
    assert done["updated_at"] >= done["created_at"]

    # Pre-signed: a plain GET without any header downloads it.
    with requests.Session() as bare:
        bare.trust_env = False
        video = bare.get(url, timeout=5)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    assert video.content == seedance_mp4(VIDEO_MODEL, TEXT + " [sim job_ms=1000]")
    assert len(video.content) == 5 * BYTES_PER_SECOND


def test_task_parameters_shape_the_answer(http, sim):
    body = task_body(
        resolution="1080p",
        ratio="16:9",
        duration=5,
        seed=123,
        camera_fixed=False,
        watermark=False,
        generate_audio=True,
        draft=False,
        return_last_frame=False,
        callback_url="https://reapi.example/hook",
    )
    task_id = created(http, sim, body, faults="job_ms=0")
    done = get_task(http, sim, task_id).json()
    assert done["status"] == "succeeded"
    assert done["usage"]["completion_tokens"] == 246840  # what Ark answers for 1080p 16:9 5 s
    assert (done["resolution"], done["ratio"], done["duration"], done["seed"]) == (
        "1080p",
        "16:9",
        5,
        123,
    )
    video = http.get(done["content"]["video_url"], timeout=5).content
    assert video == seedance_mp4(VIDEO_MODEL, TEXT, 5, "1080p", "16:9")

    other = created(
        http, sim, task_body(resolution="480p", ratio="9:16", duration=12), faults="job_ms=0"
    )
    done = get_task(http, sim, other).json()
    assert done["usage"]["completion_tokens"] == 480 * 864 * (24 * 12 + 1) // 1024
    video = http.get(done["content"]["video_url"], timeout=5).content
    assert len(video) == 12 * BYTES_PER_SECOND
    assert video == seedance_mp4(VIDEO_MODEL, TEXT, 12, "480p", "9:16")

    adaptive = created(http, sim, task_body(ratio="adaptive"), faults="job_ms=0")
    done = get_task(http, sim, adaptive).json()
    assert done["ratio"] == "adaptive"
    assert done["usage"]["completion_tokens"] == completion_tokens("720p", "16:9", 5)


def test_seedance_video_is_deterministic():
    base = seedance_mp4(VIDEO_MODEL, TEXT)
    assert base == seedance_mp4(VIDEO_MODEL, TEXT, 5, "720p", "16:9")
    assert seedance_mp4(VIDEO_MODEL, TEXT + "!") != base
    assert seedance_mp4("seedance-1-0-lite", TEXT) != base
    assert seedance_mp4(VIDEO_MODEL, TEXT, 5, "1080p") != base
    assert seedance_mp4(VIDEO_MODEL, TEXT, 5, "720p", "1:1") != base
    assert len(seedance_mp4(VIDEO_MODEL, TEXT, 10)) == 2 * len(base)
    assert set(FRAME_SIZES) == {"480p", "720p", "1080p"}


def test_task_with_images(http, sim):
    image = {"type": "image_url", "image_url": {"url": DATA_URL}}
    bodies = [
        task_body(content=[image]),  # a lone image without a role: the first frame
        task_body(content=[{"type": "text", "text": TEXT}, {**image, "role": "first_frame"}]),
        task_body(
            content=[
                {**image, "role": "first_frame"},
                {"type": "image_url", "image_url": {"url": HTTPS_URL}, "role": "last_frame"},
            ]
        ),
        task_body(content=[{**image, "role": "reference_image"}] * 4),
    ]
    for body in bodies:
        task_id = created(http, sim, body, faults="job_ms=0")
        assert get_task(http, sim, task_id).json()["status"] == "succeeded"
    # No text part: the video is made from an empty text.
    done = get_task(http, sim, created(http, sim, bodies[0], faults="job_ms=0")).json()
    assert http.get(done["content"]["video_url"], timeout=5).content == seedance_mp4(
        VIDEO_MODEL, ""
    )


def test_failed_task(http, sim):
    task_id = created(http, sim, faults="job=fail job_ms=100")
    done = wait_for(http, sim, task_id, {"failed"})
    assert set(done) == TASK_KEYS
    assert done["status"] == "failed"
    assert done["error"]["code"] == "OutputVideoSensitiveContentDetected"
    assert done["error"]["message"]
    url = f"{sim.base_url}/_sim/ark/videos/{task_id}.mp4"
    assert_error(http.get(url, timeout=5), 404, "ResourceNotFound")
    # The `code` fault names the failure.
    other = created(http, sim, task_body("x [sim job=fail job_ms=0 code=InternalServiceError]"))
    assert get_task(http, sim, other).json()["error"]["code"] == "InternalServiceError"


def test_stuck_task(http, sim):
    task_id = created(http, sim, faults="job=stuck job_ms=50")
    time.sleep(0.2)
    task = get_task(http, sim, task_id).json()
    assert task["status"] == "running"
    assert task["error"] is None
    assert "content" not in task
    url = f"{sim.base_url}/_sim/ark/videos/{task_id}.mp4"
    assert_error(http.get(url, timeout=5), 404, "ResourceNotFound")


def test_download_before_success_and_unknown(http, sim):
    task_id = created(http, sim, faults="job_ms=60000")
    for name in (f"{task_id}.mp4", "cgt-nope.mp4", f"{task_id}.avi"):
        response = http.get(f"{sim.base_url}/_sim/ark/videos/{name}", timeout=5)
        assert_error(response, 404, "ResourceNotFound")


def test_download_ms_delays_the_bytes(http, sim):
    task_id = created(http, sim, faults="job_ms=0 download_ms=400")
    url = get_task(http, sim, task_id).json()["content"]["video_url"]
    started = time.monotonic()
    with http.get(url, stream=True, timeout=5) as response:
        assert response.status_code == 200
        assert time.monotonic() - started < 0.35  # the headers come at once
        assert int(response.headers["content-length"]) == 5 * BYTES_PER_SECOND
        data = response.content
    assert time.monotonic() - started >= 0.4
    assert data[4:8] == b"ftyp"
    # The body's read times out (requests reports that as a ConnectionError).
    with pytest.raises((requests.ConnectionError, requests.Timeout)):
        http.get(url, timeout=0.15)


def test_download_faults_of_its_scope_and_header(http, sim):
    scope = unique_scope("ark-dl")
    task_id = created(http, sim, scope=scope, faults="job_ms=0")
    url = get_task(http, sim, task_id).json()["content"]["video_url"]
    assert f"/s/{scope}/_sim/ark/videos/" in url
    sim.set_fault(scope, status=503, times=1)
    assert_error(http.get(url, timeout=5), 503, "ServerOverloaded")
    assert http.get(url, timeout=5).status_code == 200
    failed = http.get(url, headers={"x-sim-fault": "status=500"}, timeout=5)
    assert_error(failed, 500, "InternalServiceError")
    half = http.get(url, headers={"x-sim-fault": "malformed"}, timeout=5)
    assert half.status_code == 200
    assert len(half.content) == 5 * BYTES_PER_SECOND // 2
    # The download is counted under its scope.
    endpoints = sim.stats()["scopes"][scope]["endpoints"]
    assert endpoints["GET /_sim/ark/videos/{name}"] == 4


def test_last_frame(http, sim):
    task_id = created(http, sim, task_body(return_last_frame=True), faults="job_ms=0")
    content = get_task(http, sim, task_id).json()["content"]
    assert content["last_frame_url"].endswith(f"/_sim/ark/videos/{task_id}-last-frame.png")
    frame = http.get(content["last_frame_url"], timeout=5)
    assert frame.status_code == 200
    assert frame.headers["content-type"] == "image/png"
    assert frame.content == last_frame_png(VIDEO_MODEL, TEXT)
    plain = created(http, sim, faults="job_ms=0")
    url = f"{sim.base_url}/_sim/ark/videos/{plain}-last-frame.png"
    assert_error(http.get(url, timeout=5), 404, "ResourceNotFound")


def test_delete_task(http, sim):
    task_id = created(http, sim, faults="job_ms=0")
    url = get_task(http, sim, task_id).json()["content"]["video_url"]
    deleted = http.delete(f"{api(sim)}/contents/generations/tasks/{task_id}", headers=AUTH)
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert_error(get_task(http, sim, task_id), 404, "ResourceNotFound")
    again = http.delete(f"{api(sim)}/contents/generations/tasks/{task_id}", headers=AUTH)
    error = assert_error(again, 404, "ResourceNotFound")
    assert error["type"] == "NotFound"
    assert_error(http.get(url, timeout=5), 404, "ResourceNotFound")
    # A queued task can be deleted too.
    queued = created(http, sim, faults="job_ms=60000")
    url = f"{api(sim)}/contents/generations/tasks/{queued}"
    assert http.delete(url, headers=AUTH, timeout=5).status_code == 200


def test_task_is_read_under_any_scope(http, sim):
    scope = unique_scope("ark-any")
    task_id = created(http, sim, scope=scope, faults="job_ms=0")
    assert get_task(http, sim, task_id, scope="elsewhere").json()["status"] == "succeeded"
    assert get_task(http, sim, task_id).json()["id"] == task_id


_IMG = {"type": "image_url", "image_url": {"url": HTTPS_URL}}
_TXT = {"type": "text", "text": TEXT}


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"model": None}, "MissingParameter", "model"),
        ({"content": None}, "MissingParameter", "content"),
        ({"content": []}, "InvalidParameter", "content"),
        ({"content": TEXT}, "InvalidParameter", "content"),
        ({"content": [_TXT, _TXT]}, "InvalidParameter", "content"),
        ({"content": ["text"]}, "InvalidParameter", "content[0]"),
        ({"content": [{"type": "video_url"}]}, "InvalidParameter", "content[0].type"),
        ({"content": [{"type": "text"}]}, "MissingParameter", "content[0].text"),
        ({"content": [{"type": "text", "text": ""}]}, "InvalidParameter", "content[0].text"),
        ({"content": [{**_TXT, "extra": 1}]}, "InvalidParameter", "content[0].extra"),
        ({"content": [{"type": "image_url"}]}, "MissingParameter", "content[0].image_url"),
        ({"content": [{"type": "image_url", "image_url": {}}]}, "MissingParameter",
         "content[0].image_url.url"),
        ({"content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
         "InvalidParameter", "content[0].image_url.url"),
        ({"content": [{"type": "image_url", "image_url": {"url": "/local.png"}}]},
         "InvalidParameter", "content[0].image_url.url"),
        ({"content": [{**_IMG, "role": "middle_frame"}]}, "InvalidParameter", "content[0].role"),
        ({"content": [_IMG, _IMG]}, "InvalidParameter", "content"),
        ({"content": [{**_IMG, "role": "last_frame"}]}, "InvalidParameter", "content"),
        ({"content": [{**_IMG, "role": "first_frame"}] * 2}, "InvalidParameter", "content"),
        ({"content": [{**_IMG, "role": "reference_image"}, {**_IMG, "role": "first_frame"}]},
         "InvalidParameter", "content"),
        ({"content": [{**_IMG, "role": "reference_image"}] * 5}, "InvalidParameter", "content"),
        ({"resolution": "4k"}, "InvalidParameter", "resolution"),
        ({"ratio": "2:1"}, "InvalidParameter", "ratio"),
        ({"duration": 1}, "InvalidParameter", "duration"),
        ({"duration": 13}, "InvalidParameter", "duration"),
        ({"duration": "5"}, "InvalidParameter", "duration"),
        ({"seed": 2**32}, "InvalidParameter", "seed"),
        ({"camera_fixed": "no"}, "InvalidParameter", "camera_fixed"),
        ({"return_last_frame": 1}, "InvalidParameter", "return_last_frame"),
        ({"callback_url": "ftp://x"}, "InvalidParameter", "callback_url"),
        ({"frames": 121}, "InvalidParameter", "frames"),
        ({"prompt": TEXT}, "InvalidParameter", "prompt"),
    ],
)  # fmt: skip
def test_task_validation(http, sim, body, code, param):
    full = {key: value for key, value in task_body(**body).items() if value is not None}
    error = assert_error(create(http, sim, full), 400, code, param)
    assert error["type"] == "BadRequest"


def test_task_create_faults(http, sim):
    assert_error(
        create(http, sim, faults="status=429"), 429, "RateLimitExceeded.EndpointRPMExceeded"
    )
    assert_error(create(http, sim, task_body("x [sim status=503]")), 503, "ServerOverloaded")
    malformed = create(http, sim, faults="malformed")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        json.loads(malformed.content)
    with pytest.raises(requests.ConnectionError):
        create(http, sim, faults="reset")
    assert_error(
        create(http, sim, faults="nonsense=1"), 400, "InvalidParameter"
    )  # a bad fault spec


def test_poll_faults_of_the_scope(http, sim):
    scope = unique_scope("ark-poll")
    task_id = created(http, sim, scope=scope, faults="job_ms=0")
    sim.set_fault(scope, status=500, times=1)
    assert_error(get_task(http, sim, task_id, scope=scope), 500, "InternalServiceError")
    assert get_task(http, sim, task_id, scope=scope).json()["status"] == "succeeded"


# --- chat and the rest ------------------------------------------------------------------------


def test_chat_completions_are_openai_compatible(http, sim):
    body = {"model": "doubao-seed-1-6", "messages": [{"role": "user", "content": "hello"}]}
    response = post(http, sim, "/chat/completions", body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["object"] == "chat.completion"
    assert payload["model"] == "doubao-seed-1-6"
    assert payload["usage"]["total_tokens"] > 0
    assert_error(
        post(http, sim, "/chat/completions", body, faults="status=429"),
        429,
        "RateLimitExceeded.EndpointRPMExceeded",
    )


def test_unknown_api_url(http, sim):
    response = http.get(api(sim) + "/nothing/here", headers=AUTH, timeout=5)
    assert_error(response, 404, "ResourceNotFound")
    scoped = http.post(api(sim, "some-scope") + "/images/edits", headers=AUTH, timeout=5)
    assert_error(scoped, 404, "ResourceNotFound")


def test_scoped_endpoints_are_counted(http, sim):
    scope = unique_scope("ark-stats")
    body = {"model": IMAGE_MODEL, "prompt": PROMPT, "size": "1K"}
    assert post(http, sim, "/images/generations", body, scope=scope).status_code == 200
    created(http, sim, scope=scope)
    endpoints = sim.stats()["scopes"][scope]["endpoints"]
    assert endpoints == {
        "POST /api/v3/images/generations": 1,
        "POST /api/v3/contents/generations/tasks": 1,
    }
