"""The simulator's OpenAI Videos API (asynchronous video jobs), over real HTTP (requests and the
official SDK).

One simulator process serves the whole module; every test starts from a reset (jobs survive a
reset, so listing tests use a scope of their own). No Django.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from simulator.openai_videos import (
    BYTES_PER_SECOND,
    MAX_JOBS,
    preview_png,
    video_mp4,
)
from simulator.testing import SimulatorProcess

# The SDK marks every videos method deprecated (the Sora API's announced shutdown).
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

PROMPT = "A paper boat drifting down a rainy street"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # enough for the simulator's sniffing
VIDEO_KEYS = {
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "seconds",
    "size",
    "quality",
    "remixed_from_video_id",
    "error",
}


def unique_scope(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def create(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    faults: str | None = None,
    timeout: float = 5,
    **body: Any,
) -> requests.Response:
    body.setdefault("prompt", PROMPT)
    if faults is not None:
        headers = {**(headers or {}), "x-sim-fault": faults}
    return http.post(sim.url(scope) + "/videos", json=body, headers=headers, timeout=timeout)


def created(http: requests.Session, sim: SimulatorProcess, scope: str | None = None, **body: Any):
    response = create(http, sim, scope, **body)
    assert response.status_code == 200, response.text
    return response.json()


def get(
    http: requests.Session, sim: SimulatorProcess, path: str, scope: str | None = None, **kwargs
) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    return http.get(sim.url(scope) + "/videos" + path, **kwargs)


def wait_for(http, sim, video_id: str, statuses: set[str], timeout_s: float = 5) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        video = get(http, sim, f"/{video_id}").json()
        if video["status"] in statuses or time.monotonic() > deadline:
            return video
        time.sleep(0.02)


def sdk(base_url: str, **kwargs: Any) -> OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5)
    return OpenAI(base_url=base_url, api_key="x", **kwargs)


def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The top-level ISO BMFF boxes (type, payload); checks they tile the file exactly."""
    pos, found = 0, []
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        assert size >= 8 and pos + size <= len(data), (kind, size)
        found.append((kind, data[pos + 8 : pos + size]))
        pos += size
    assert pos == len(data)
    return found


def assert_error(response: requests.Response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    assert error["param"] == param
    return error


# --- create ----------------------------------------------------------------------------------


def test_create_answers_a_queued_job_with_the_defaults(http, sim):
    before = int(time.time())
    response = create(http, sim)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    video = response.json()
    assert set(video) == VIDEO_KEYS
    assert video["id"].startswith("video_")
    assert video["object"] == "video"
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2", "4", "720x1280")
    assert (video["status"], video["progress"]) == ("queued", 0)
    assert before <= video["created_at"] <= int(time.time())
    assert video["completed_at"] is None and video["expires_at"] is None
    assert video["prompt"] == PROMPT
    assert video["quality"] == "standard"
    assert video["remixed_from_video_id"] is None and video["error"] is None


def test_create_with_every_field_and_an_integer_seconds(http, sim):
    video = created(http, sim, model="sora-2-pro", seconds=12, size="1792x1024")
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2-pro", "12", "1792x1024")
    other = created(http, sim, seconds="8", size="1280x720", input_reference={"file_id": "f"})
    assert (other["seconds"], other["size"]) == ("8", "1280x720")
    assert other["id"] != video["id"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"prompt": None}, "prompt", "missing_required_parameter"),
        ({"prompt": ""}, "prompt", "empty_string"),
        ({"prompt": ["a"]}, "prompt", "invalid_type"),
        ({"n": 2}, "n", "unknown_parameter"),
        ({"quality": "hd"}, "quality", "unknown_parameter"),
        ({"model": ""}, "model", "invalid_type"),
        ({"model": 3}, "model", "invalid_type"),
        ({"seconds": "5"}, "seconds", "invalid_value"),
        ({"seconds": 10}, "seconds", "invalid_value"),
        ({"seconds": 4.0}, "seconds", "invalid_type"),
        ({"seconds": True}, "seconds", "invalid_type"),
        ({"size": "1024x1024"}, "size", "invalid_value"),
        ({"size": [720, 1280]}, "size", "invalid_type"),
        ({"input_reference": "https://x/y.png"}, "input_reference", "invalid_type"),
        ({"input_reference": {}}, "input_reference", "invalid_value"),
        ({"input_reference": {"file_id": "a", "image_url": "b"}}, "input_reference", None),
        ({"input_reference": {"url": "b"}}, "input_reference.url", "unknown_parameter"),
        ({"input_reference": {"image_url": 3}}, "input_reference.image_url", "invalid_type"),
    ],
)
def test_invalid_requests_are_400_with_the_param(http, sim, body, param, code):
    payload = {"prompt": PROMPT, **body}
    if body.get("prompt", "") is None:
        del payload["prompt"]
    error = assert_error(
        http.post(sim.url() + "/videos", json=payload, timeout=5), 400, param=param
    )
    if code is not None:
        assert error["code"] == code
    if param == "input_reference" and code is None:
        assert error["code"] == "invalid_value"


def test_a_body_that_is_not_a_json_object_is_400(http, sim):
    bad_json = http.post(
        sim.url() + "/videos",
        data=b"{nope",
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert "could not parse the JSON body" in assert_error(bad_json, 400)["message"]
    assert_error(http.post(sim.url() + "/videos", json=[PROMPT], timeout=5), 400)


def test_create_multipart_with_an_input_reference_file(http, sim):
    response = http.post(
        sim.url() + "/videos",
        data={"prompt": PROMPT, "model": "sora-2", "seconds": "8", "size": "1280x720"},
        files={"input_reference": ("first-frame.png", PNG, "image/png")},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    video = response.json()
    assert (video["status"], video["seconds"], video["size"]) == ("queued", "8", "1280x720")
    assert get(http, sim, f"/{video['id']}").json()["prompt"] == PROMPT


@pytest.mark.parametrize(
    "image", [b"\xff\xd8\xff\xe0" + b"\x00" * 16, b"RIFF\x10\x00\x00\x00WEBPVP8 ", PNG]
)
def test_multipart_reference_images_are_recognised_by_their_bytes(http, sim, image):
    response = http.post(
        sim.url() + "/videos",
        data={"prompt": PROMPT},
        files={"input_reference": ("upload", image, "application/octet-stream")},
        timeout=5,
    )
    assert response.status_code == 200, response.text


def test_an_input_video_is_remade_at_its_own_length_without_a_prompt(http, sim):
    import hashlib

    clip = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00" + b"frames" * 10

    def enhance(data: bytes, **fields: str) -> dict[str, Any]:
        response = http.post(
            sim.url() + "/videos",
            data={"model": "enhance-video-1.0", "size": "1280x720", **fields},
            files={"input_reference": ("clip.mp4", data, "video/mp4")},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert enhance(clip, seconds="2", size="3840x2160")["size"] == "3840x2160"
    video = enhance(clip, seconds="3")
    assert (video["seconds"], video["prompt"]) == ("3", "")
    time.sleep(0.7)  # the default job takes about 600 ms
    data = get(http, sim, f"/{video['id']}/content").content
    assert data == video_mp4("enhance-video-1.0", "", "3", "1280x720",
                             hashlib.sha256(clip).hexdigest())  # fmt: skip
    assert data != video_mp4("enhance-video-1.0", "", "3", "1280x720")
    assert enhance(clip + b"!", seconds="3")["id"] != video["id"]
    too_long = http.post(
        sim.url() + "/videos",
        data={"seconds": "601"},
        files={"input_reference": ("clip.mp4", clip, "video/mp4")},
        timeout=5,
    )
    assert_error(too_long, 400, param="seconds")


def test_multipart_validation(http, sim):
    url = sim.url() + "/videos"
    not_an_image = http.post(
        url,
        data={"prompt": PROMPT},
        files={"input_reference": ("notes.txt", b"hello", "text/plain")},
        timeout=5,
    )
    assert assert_error(not_an_image, 400, "input_reference")["code"] == "invalid_image_format"
    as_text = http.post(
        url, files={"prompt": (None, PROMPT), "input_reference": (None, "x")}, timeout=5
    )
    assert assert_error(as_text, 400, "input_reference")["code"] == "invalid_type"
    unknown = http.post(url, files={"prompt": (None, PROMPT), "style": (None, "x")}, timeout=5)
    assert assert_error(unknown, 400, "style")["code"] == "unknown_parameter"
    no_prompt = http.post(url, files={"size": (None, "720x1280")}, timeout=5)
    assert_error(no_prompt, 400, "prompt")
    bad_seconds = http.post(
        url, files={"prompt": (None, PROMPT), "seconds": (None, "6")}, timeout=5
    )
    assert_error(bad_seconds, 400, "seconds")
    broken = http.post(
        url,
        data=b"--x\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=x"},
        timeout=5,
    )
    assert "form body" in assert_error(broken, 400)["message"]


def test_multipart_reference_fields_flattened_from_an_object(http, sim):
    response = http.post(
        sim.url() + "/videos",
        files={
            "prompt": (None, PROMPT),
            "input_reference[image_url]": (None, "https://example.com/a.png"),
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    both = http.post(
        sim.url() + "/videos",
        data={"prompt": PROMPT, "input_reference[file_id]": "file_1"},
        files={"input_reference": ("a.png", PNG, "image/png")},
        timeout=5,
    )
    assert_error(both, 400, "input_reference")


# --- the official SDK ------------------------------------------------------------------------


def test_the_sdk_creates_retrieves_lists_downloads_and_deletes(sim):
    client = sdk(sim.url(unique_scope("sdk")))
    video = client.videos.create(model="sora-2", prompt=PROMPT, seconds="4", size="720x1280")
    assert video.object == "video" and video.status == "queued" and video.progress == 0
    assert video.seconds == "4" and video.size == "720x1280" and video.model == "sora-2"

    done = client.videos.poll(video.id, poll_interval_ms=20)
    assert done.status == "completed" and done.progress == 100
    assert done.completed_at is not None and done.completed_at >= done.created_at
    assert done.expires_at is not None and done.expires_at > done.completed_at
    assert client.videos.retrieve(video.id).status == "completed"

    assert [v.id for v in client.videos.list()] == [video.id]

    content = client.videos.download_content(video.id)
    assert content.content == video_mp4("sora-2", PROMPT, "4", "720x1280")
    thumbnail = client.videos.download_content(video.id, variant="thumbnail")
    assert thumbnail.content.startswith(b"\x89PNG\r\n\x1a\n")

    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert list(client.videos.list()) == []


def test_the_sdk_uploads_an_input_reference(sim):
    client = sdk(sim.url())
    video = client.videos.create(
        prompt=PROMPT, input_reference=("ref.png", PNG, "image/png"), seconds="8"
    )
    assert video.seconds == "8" and video.status == "queued"
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt=PROMPT, input_reference=("ref.txt", b"text", "text/plain"))
    assert caught.value.body["param"] == "input_reference"


def test_create_and_poll_follows_the_poll_after_header(sim):
    client = sdk(sim.url())
    started = time.monotonic()
    video = client.videos.create_and_poll(prompt=PROMPT)  # the SDK's own default is 1 s
    assert video.status == "completed"
    assert time.monotonic() - started < 0.95


def test_the_sdk_sees_a_failed_job_and_its_error(sim):
    client = sdk(sim.url("job=fail,job_ms=100"))
    video = client.videos.create_and_poll(prompt=PROMPT)
    assert video.status == "failed"
    assert video.error is not None and video.error.code == "video_generation_failed"
    assert video.error.message
    with pytest.raises(openai.BadRequestError):
        client.videos.download_content(video.id)


# --- job life --------------------------------------------------------------------------------


def test_progress_rises_through_the_statuses_to_completion(http, sim):
    video = created(http, sim, headers={"x-sim-fault": "job_ms=1000"})
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = get(http, sim, f"/{video['id']}")
        assert response.status_code == 200
        current = response.json()
        seen.append((current["status"], current["progress"]))
        if current["status"] == "completed":
            assert current["completed_at"] is not None and current["error"] is None
            assert "openai-poll-after-ms" not in response.headers
            break
        assert response.headers["openai-poll-after-ms"] == "100"  # a tenth of job_ms
        assert current["completed_at"] is None
        time.sleep(0.03)
    statuses = [status for status, _ in seen]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    order = {"queued": 0, "in_progress": 1, "completed": 2}
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    middle = [p for s, p in seen if s == "in_progress"]
    assert len(middle) >= 3 and any(0 < p < 100 for p in middle) and max(middle) <= 99
    assert all(p == 0 for s, p in seen if s == "queued")


def test_job_ms_zero_is_done_at_the_first_poll(http, sim):
    video = created(http, sim, "job_ms=0")
    assert video["status"] == "queued"  # the creation answer always is
    current = get(http, sim, f"/{video['id']}").json()
    assert (current["status"], current["progress"]) == ("completed", 100)


def test_the_default_job_takes_about_600_ms(http, sim):
    video = created(http, sim)
    time.sleep(0.3)
    assert get(http, sim, f"/{video['id']}").json()["status"] == "in_progress"
    time.sleep(0.4)
    assert get(http, sim, f"/{video['id']}").json()["status"] == "completed"


def test_a_failing_job_fails_with_its_progress_left_where_it_was(http, sim):
    video = created(http, sim, prompt=f"{PROMPT} [sim job=fail job_ms=500]")
    time.sleep(0.2)
    running = get(http, sim, f"/{video['id']}").json()
    assert running["status"] == "in_progress" and 0 <= running["progress"] < 100
    failed = wait_for(http, sim, video["id"], {"failed", "completed"})
    assert failed["status"] == "failed"
    assert failed["progress"] == 99
    assert failed["completed_at"] is None and failed["expires_at"] is None
    assert failed["error"]["code"] == "video_generation_failed" and failed["error"]["message"]
    time.sleep(0.05)
    assert get(http, sim, f"/{video['id']}").json() == failed  # it stays so
    download = get(http, sim, f"/{video['id']}/content")
    assert assert_error(download, 400)["code"] == "video_generation_failed"


def test_a_stuck_job_stays_in_progress_below_100(http, sim):
    video = created(http, sim, headers={"x-sim-fault": "job=stuck,job_ms=100"})
    time.sleep(0.35)
    for _ in range(2):
        current = get(http, sim, f"/{video['id']}").json()
        assert (current["status"], current["progress"]) == ("in_progress", 99)
        assert current["completed_at"] is None and current["error"] is None
        time.sleep(0.05)
    download = get(http, sim, f"/{video['id']}/content")
    assert assert_error(download, 400)["code"] == "video_not_ready"


def test_job_faults_are_fixed_at_creation(http, sim):
    scope = unique_scope("fixed")
    video = created(http, sim, scope, headers={"x-sim-fault": "job=fail,job_ms=50"})
    sim.set_fault(scope, job="ok", job_ms=5000)
    time.sleep(0.15)
    polled = get(http, sim, f"/{video['id']}", scope, headers={"x-sim-fault": "job=ok"})
    assert polled.json()["status"] == "failed"
    # A scope's job faults shape the jobs created under it, whatever scope polls them.
    quick = created(http, sim, "job_ms=0")
    assert get(http, sim, f"/{quick['id']}").json()["status"] == "completed"


def test_bad_job_fault_values_are_rejected(http, sim):
    for spec in ("job=maybe", "job_ms=3600001", "download_ms=-1"):
        response = create(http, sim, headers={"x-sim-fault": spec})
        assert "bad fault spec" in assert_error(response, 400)["message"]
    bad_directive = create(http, sim, prompt="[sim job=later]")
    assert "bad fault spec" in assert_error(bad_directive, 400)["message"]
    with pytest.raises(requests.HTTPError):
        sim.set_fault("bad-job", job="sometimes")


# --- content ---------------------------------------------------------------------------------


def test_content_before_completion_is_400_not_ready(http, sim):
    video = created(http, sim, "job_ms=5000")
    response = get(http, sim, f"/{video['id']}/content")
    error = assert_error(response, 400)
    assert error["code"] == "video_not_ready" and video["id"] in error["message"]


@pytest.mark.parametrize(
    ("seconds", "size"), [("4", "720x1280"), ("8", "1792x1024"), ("12", "1280x720")]
)
def test_the_download_is_a_deterministic_mp4_of_16_kib_per_second(http, sim, seconds, size):
    video = created(http, sim, "job_ms=0", seconds=seconds, size=size)
    response = get(http, sim, f"/{video['id']}/content")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    data = response.content
    assert len(data) == BYTES_PER_SECOND * int(seconds)
    assert int(response.headers["content-length"]) == len(data)
    found = boxes(data)
    assert [kind for kind, _ in found] == [b"ftyp", b"moov", b"mdat"]
    timescale, duration = struct.unpack(">II", found[1][1][8 + 12 : 8 + 20])  # moov → mvhd
    assert duration == timescale * int(seconds)
    ftyp = found[0][1]
    assert ftyp[:4] == b"isom"
    brands = {ftyp[i : i + 4] for i in range(8, len(ftyp), 4)}
    assert b"isom" in brands
    assert data == video_mp4("sora-2", PROMPT, seconds, size)
    again = created(http, sim, "job_ms=0", seconds=seconds, size=size)
    assert get(http, sim, f"/{again['id']}/content").content == data  # same parameters


def test_the_content_depends_on_model_prompt_seconds_and_size(http, sim):
    base = video_mp4("sora-2", PROMPT, "4", "720x1280")
    assert video_mp4("sora-2-pro", PROMPT, "4", "720x1280") != base
    assert video_mp4("sora-2", PROMPT + "!", "4", "720x1280") != base
    assert video_mp4("sora-2", PROMPT, "4", "1280x720") != base
    assert len(video_mp4("sora-2", PROMPT, "8", "720x1280")) == 2 * len(base)
    video = created(http, sim, "job_ms=0", model="sora-2-pro", prompt="other")
    assert get(http, sim, f"/{video['id']}/content").content == video_mp4(
        "sora-2-pro", "other", "4", "720x1280"
    )


def test_thumbnail_and_spritesheet_variants(http, sim):
    video = created(http, sim, "job_ms=0", size="1280x720")
    for variant in ("thumbnail", "spritesheet"):
        response = get(http, sim, f"/{video['id']}/content", params={"variant": variant})
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content == preview_png("sora-2", PROMPT, "4", "1280x720", variant)
        width, height = struct.unpack(">II", response.content[16:24])
        assert (width, height) == (1280, 720)
    explicit = get(http, sim, f"/{video['id']}/content", params={"variant": "video"})
    assert explicit.headers["content-type"] == "video/mp4"
    bad = get(http, sim, f"/{video['id']}/content", params={"variant": "gif"})
    assert assert_error(bad, 400, "variant")["code"] == "invalid_value"


def test_a_slow_download_sends_headers_then_waits(http, sim):
    video = created(http, sim, "job_ms=0,download_ms=700")
    started = time.monotonic()
    with get(http, sim, f"/{video['id']}/content", stream=True) as response:
        headers_after = time.monotonic() - started
        assert response.status_code == 200
        data = response.content
    total = time.monotonic() - started
    assert headers_after < 0.5
    assert total >= 0.7
    assert data == video_mp4("sora-2", PROMPT, "4", "720x1280")
    with pytest.raises(openai.APITimeoutError):  # the read timeout fires
        sdk(sim.url(), timeout=0.3).videos.download_content(video["id"])
    # The job's fault only: polling it is not slowed.
    started = time.monotonic()
    assert get(http, sim, f"/{video['id']}").status_code == 200
    assert time.monotonic() - started < 0.5


def test_a_download_can_fail_through_header_or_scope(http, sim):
    scope = unique_scope("download")
    video = created(http, sim, scope, faults="job_ms=0")
    path = f"/{video['id']}/content"
    failed = get(http, sim, path, scope, headers={"x-sim-fault": "status=503"})
    assert_error(failed, 503)
    sim.set_fault(scope, status=500, times=1)
    assert_error(get(http, sim, path, scope), 500)
    assert get(http, sim, path, scope).status_code == 200
    assert_error(get(http, sim, path, "status=502"), 502)


# --- faults on create and on polls -----------------------------------------------------------


def test_create_error_status_with_retry_after_and_code(http, sim):
    response = create(
        http, sim, headers={"x-sim-fault": "status=429,retry_after=7,code=too_many_videos"}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "too_many_videos"
    with pytest.raises(openai.RateLimitError):
        sdk(sim.url("status=429")).videos.create(prompt=PROMPT)


def test_create_faults_from_the_prompt_directive_json_and_multipart(http, sim):
    directed = create(http, sim, prompt="[sim status=503] a fox")
    assert_error(directed, 503)
    multipart = http.post(
        sim.url() + "/videos",
        files={"prompt": (None, "[sim status=500] a fox")},
        timeout=5,
    )
    assert_error(multipart, 500)
    started = time.monotonic()
    assert create(http, sim, prompt="[sim latency_ms=300] a fox").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.ConnectionError):
        create(http, sim, prompt="[sim reset] a fox")


def test_create_malformed_latency_and_reset(http, sim):
    malformed = create(http, sim, "malformed")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.content)
    started = time.monotonic()
    assert create(http, sim, "latency_ms=300").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.ConnectionError):
        create(http, sim, "reset")
    with pytest.raises(openai.APIConnectionError):
        sdk(sim.url("reset")).videos.create(prompt=PROMPT)


def test_a_status_fault_on_the_scope_makes_polls_fail_for_a_while(http, sim):
    scope = unique_scope("polls")
    video = created(http, sim, scope, faults="job_ms=0")
    sim.set_fault(scope, status=503, times=2)
    assert_error(get(http, sim, f"/{video['id']}", scope), 503)
    assert_error(get(http, sim, f"/{video['id']}", scope), 503)
    recovered = get(http, sim, f"/{video['id']}", scope)
    assert recovered.status_code == 200 and recovered.json()["status"] == "completed"
    # Body faults of the scope leave GETs alone.
    sim.set_fault(scope, malformed=True)
    assert get(http, sim, f"/{video['id']}", scope).json()["id"] == video["id"]
    assert get(http, sim, "", scope).json()["object"] == "list"


# --- unknown ids, deletion, listing ----------------------------------------------------------


def test_unknown_ids_are_404_everywhere(http, sim):
    for response in (
        get(http, sim, "/video_nope"),
        get(http, sim, "/video_nope/content"),
        http.delete(sim.url() + "/videos/video_nope", timeout=5),
    ):
        error = assert_error(response, 404)
        assert error["code"] == "not_found" and "video_nope" in error["message"]
    with pytest.raises(openai.NotFoundError):
        sdk(sim.url()).videos.retrieve("video_nope")


def test_deleting_a_job_removes_it_and_its_content(http, sim):
    scope = unique_scope("delete")
    video = created(http, sim, scope, faults="job_ms=0")
    kept = created(http, sim, scope, faults="job_ms=0")
    response = http.delete(sim.url(scope) + f"/videos/{video['id']}", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    assert_error(get(http, sim, f"/{video['id']}"), 404)
    assert_error(get(http, sim, f"/{video['id']}/content"), 404)
    assert_error(http.delete(sim.url() + f"/videos/{video['id']}", timeout=5), 404)
    assert [v["id"] for v in get(http, sim, "", scope).json()["data"]] == [kept["id"]]
    running = created(http, sim, scope, faults="job_ms=60000")  # any status can be deleted
    assert http.delete(sim.url() + f"/videos/{running['id']}", timeout=5).status_code == 200


def test_list_pages_newest_first_within_the_scope(http, sim):
    scope = unique_scope("list")
    ids = [created(http, sim, scope, prompt=f"clip {i}")["id"] for i in range(5)]
    created(http, sim, unique_scope("elsewhere"))  # another scope's job is not listed
    newest_first = ids[::-1]

    first = get(http, sim, "", scope, params={"limit": 2}).json()
    assert set(first) == {"object", "data", "first_id", "last_id", "has_more"}
    assert first["object"] == "list"
    assert [v["id"] for v in first["data"]] == newest_first[:2]
    assert all(set(v) == VIDEO_KEYS for v in first["data"])
    assert (first["first_id"], first["last_id"]) == (newest_first[0], newest_first[1])
    assert first["has_more"] is True
    second = get(http, sim, "", scope, params={"limit": 2, "after": first["last_id"]}).json()
    assert [v["id"] for v in second["data"]] == newest_first[2:4] and second["has_more"]
    third = get(http, sim, "", scope, params={"limit": 2, "after": second["last_id"]}).json()
    assert [v["id"] for v in third["data"]] == newest_first[4:]
    assert third["has_more"] is False and third["first_id"] == third["last_id"] == ids[0]

    everything = get(http, sim, "", scope).json()
    assert [v["id"] for v in everything["data"]] == newest_first and not everything["has_more"]
    ascending = get(http, sim, "", scope, params={"order": "asc", "limit": 3}).json()
    assert [v["id"] for v in ascending["data"]] == ids[:3]

    client = sdk(sim.url(scope))
    assert [v.id for v in client.videos.list(limit=2)] == newest_first  # auto-pagination
    empty = get(http, sim, "", unique_scope("empty")).json()
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None,
                     "has_more": False}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "newest"}, "order"),
        ({"after": "video_unknown"}, "after"),
    ],
)
def test_list_validation(http, sim, params, param):
    assert_error(get(http, sim, "", params=params), 400, param)


def test_jobs_are_bounded_oldest_dropped(http, sim):
    scope = unique_scope("bound")
    oldest = created(http, sim, scope)["id"]
    second = created(http, sim, scope)["id"]
    for _ in range(MAX_JOBS - 1):
        assert create(http, sim, scope).status_code == 200
    assert_error(get(http, sim, f"/{oldest}"), 404)
    assert get(http, sim, f"/{second}").status_code == 200
    listed = get(http, sim, "", scope, params={"limit": 100, "order": "asc"}).json()
    assert listed["data"][0]["id"] == second


def test_videos_endpoints_are_counted_per_scope(http, sim):
    scope = unique_scope("stats")
    video = created(http, sim, scope, faults="job_ms=0")
    get(http, sim, f"/{video['id']}", scope)
    get(http, sim, f"/{video['id']}/content", scope)
    endpoints = sim.stats()["scopes"][scope]["endpoints"]
    assert endpoints == {
        "POST /v1/videos": 1,
        "GET /v1/videos/{video_id}": 1,
        "GET /v1/videos/{video_id}/content": 1,
    }
