"""The simulator's Google Veo endpoints (Gemini API long-running operations: create, poll,
download), over real HTTP.

One simulator process serves the whole module; every test starts from a reset (operations
survive a reset, so tests keep to the names they create). No Django.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
import requests

from simulator.faults import FaultSpecError, parse_spec
from simulator.openai_images import solid_png
from simulator.openai_videos import BYTES_PER_SECOND, video_mp4
from simulator.testing import SimulatorProcess
from simulator.veo import RESPONSE_TYPE, frame_size, veo_mp4

MODEL = "veo-3.1-generate-preview"
PROMPT = "A paper boat drifting down a rainy street"
KEY = {"x-goog-api-key": "AIza-veo-test"}
PNG = solid_png(8, 8, b"\x10\x20\x30")
IMAGE = {"bytesBase64Encoded": base64.b64encode(PNG).decode(), "mimeType": "image/png"}


def unique_scope(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def root(sim: SimulatorProcess, scope: str | None = None) -> str:
    return sim.url(scope, suffix="/v1beta")


def veo_body(prompt: str | None = PROMPT, **parameters: Any) -> dict[str, Any]:
    instance: dict[str, Any] = {} if prompt is None else {"prompt": prompt}
    body: dict[str, Any] = {"instances": [instance]}
    if parameters:
        body["parameters"] = parameters
    return body


def create(
    http: requests.Session,
    sim: SimulatorProcess,
    body: Any = None,
    *,
    scope: str | None = None,
    model: str = MODEL,
    faults: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> requests.Response:
    body = veo_body() if body is None else body
    headers = {"content-type": "application/json", **(KEY if headers is None else headers)}
    if faults is not None:
        headers["x-sim-fault"] = faults
    return http.post(
        f"{root(sim, scope)}/models/{model}:predictLongRunning",
        data=raw if raw is not None else json.dumps(body),
        headers=headers,
        params=params,
        timeout=10,
    )


def created(http: requests.Session, sim: SimulatorProcess, body: Any = None, **kwargs) -> str:
    response = create(http, sim, body, **kwargs)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == {"name"}
    return payload["name"]


def poll(
    http: requests.Session, sim: SimulatorProcess, name: str, scope: str | None = None, **kw
) -> requests.Response:
    kw.setdefault("headers", KEY)
    kw.setdefault("timeout", 5)
    return http.get(f"{root(sim, scope)}/{name}", **kw)


def wait_done(http: requests.Session, sim: SimulatorProcess, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        operation = poll(http, sim, name).json()
        if operation["done"] or time.monotonic() > deadline:
            return operation
        time.sleep(0.02)


def video_uri(operation: dict[str, Any]) -> str:
    assert operation["done"] is True
    response = operation["response"]
    assert response["@type"] == RESPONSE_TYPE
    samples = response["generateVideoResponse"]["generatedSamples"]
    assert len(samples) == 1
    return samples[0]["video"]["uri"]


def error_of(response: requests.Response, status: int, name: str) -> dict[str, Any]:
    """Gemini's error envelope with this HTTP status and RPC status name."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == status
    assert error["status"] == name
    assert isinstance(error["message"], str) and error["message"]
    return error


# --- life cycle -------------------------------------------------------------------------------


def test_operation_life_cycle_to_a_downloadable_mp4(http, sim):
    scope = unique_scope("veo-life")
    prompt = PROMPT + " [sim job_ms=400]"
    name = created(http, sim, veo_body(prompt), scope=scope)
    assert name.startswith(f"models/{MODEL}/operations/")
    operation_id = name.rsplit("/", 1)[1]
    assert operation_id and "/" not in operation_id

    running = poll(http, sim, name)
    assert running.status_code == 200
    assert running.headers["content-type"].startswith("application/json")
    assert running.json() == {"name": name, "done": False}

    done = wait_done(http, sim, name)
    assert set(done) == {"name", "done", "response"}
    assert done["name"] == name
    assert set(done["response"]["generateVideoResponse"]) == {"generatedSamples"}
    uri = video_uri(done)
    prefix = f"{sim.url(scope, suffix='/v1beta')}/files/"
    assert uri.startswith(prefix) and uri.endswith(":download?alt=media")
    file_id = uri[len(prefix) : -len(":download?alt=media")]
    assert file_id and file_id != operation_id

    video = http.get(uri, headers=KEY, timeout=5)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    assert len(video.content) == 8 * BYTES_PER_SECOND  # default: 8 s
    assert video.content == veo_mp4(MODEL, prompt)
    assert video.content == video_mp4(MODEL, prompt, "8", "1280x720")  # 720p 16:9
    # Done stays done, with the same link.
    assert video_uri(poll(http, sim, name).json()) == uri


def test_parameters_shape_the_video(http, sim):
    body = veo_body(
        aspectRatio="9:16",
        durationSeconds=4,
        resolution="1080p",
        negativePrompt="no text",
        personGeneration="allow_adult",
        sampleCount=1,
        seed=42,
    )
    name = created(http, sim, body, faults="job_ms=0")
    video = http.get(video_uri(poll(http, sim, name).json()), headers=KEY, timeout=5).content
    assert video == veo_mp4(MODEL, PROMPT, 4, "1080p", "9:16")
    assert video == video_mp4(MODEL, PROMPT, "4", "1080x1920")
    assert len(video) == 4 * BYTES_PER_SECOND

    # A string duration (Struct values) and a double that is whole are taken too.
    for duration in ("6", 6.0):
        name = created(http, sim, veo_body(durationSeconds=duration), faults="job_ms=0")
        uri = video_uri(poll(http, sim, name).json())
        assert http.get(uri, headers=KEY, timeout=5).content == veo_mp4(MODEL, PROMPT, 6)


def test_image_to_video(http, sim):
    with_prompt = {"instances": [{"prompt": PROMPT, "image": IMAGE}]}
    name = created(http, sim, with_prompt, faults="job_ms=0")
    uri = video_uri(poll(http, sim, name).json())
    # The image is checked, then ignored: the same video as without it.
    assert http.get(uri, headers=KEY, timeout=5).content == veo_mp4(MODEL, PROMPT)

    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(12)).decode()
    alone = {"instances": [{"image": {"bytesBase64Encoded": jpeg, "mimeType": "image/jpeg"}}]}
    name = created(http, sim, alone, faults="job_ms=0")
    uri = video_uri(poll(http, sim, name).json())
    assert http.get(uri, headers=KEY, timeout=5).content == veo_mp4(MODEL, "")


def test_failed_operation(http, sim):
    name = created(http, sim, faults="job=fail job_ms=100")
    assert poll(http, sim, name).json() == {"name": name, "done": False}
    done = wait_done(http, sim, name)
    assert set(done) == {"name", "done", "error"}
    assert done["done"] is True
    assert done["error"]["code"] == 400
    assert "job=fail" in done["error"]["message"]


def test_filtered_operation_has_no_samples(http, sim):
    name = created(http, sim, veo_body(PROMPT + " [sim job=filtered job_ms=0]"))
    done = poll(http, sim, name).json()
    assert set(done) == {"name", "done", "response"}
    assert done["done"] is True
    response = done["response"]
    assert response["@type"] == RESPONSE_TYPE
    result = response["generateVideoResponse"]
    assert "generatedSamples" not in result
    assert result["raiMediaFilteredCount"] == 1
    assert len(result["raiMediaFilteredReasons"]) == 1


def test_stuck_operation_never_finishes(http, sim):
    name = created(http, sim, faults="job=stuck job_ms=50")
    time.sleep(0.2)
    assert poll(http, sim, name).json() == {"name": name, "done": False}


def test_filtered_is_a_job_fault_value():
    assert parse_spec("job=filtered") == {"job": "filtered"}
    with pytest.raises(FaultSpecError):
        parse_spec("job=blocked")


def test_operation_is_read_under_any_scope(http, sim):
    scope = unique_scope("veo-any")
    name = created(http, sim, scope=scope, faults="job_ms=0")
    elsewhere = poll(http, sim, name, scope="elsewhere").json()
    assert elsewhere["done"] is True
    # The link keeps the scope the operation was created in.
    assert f"/s/{scope}/v1beta/files/" in video_uri(elsewhere)


def test_unknown_operations_and_files_are_404(http, sim):
    error_of(poll(http, sim, f"models/{MODEL}/operations/nope"), 404, "NOT_FOUND")
    name = created(http, sim, faults="job_ms=0")
    other_model = name.replace(MODEL, "veo-2.0-generate-001")
    error_of(poll(http, sim, other_model), 404, "NOT_FOUND")
    url = f"{root(sim)}/files/nope:download?alt=media"
    error_of(http.get(url, headers=KEY, timeout=5), 404, "NOT_FOUND")
    # Without ":download" (file metadata is not simulated): gemini's catch-all 404.
    error_of(http.get(f"{root(sim)}/files/nope", headers=KEY, timeout=5), 404, "NOT_FOUND")


# --- validation and auth ----------------------------------------------------------------------

_P = {"prompt": PROMPT}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "Expected an object"),
        ({}, "`instances` is required"),
        ({"instances": []}, "`instances` is required"),
        ({"instances": {"prompt": PROMPT}}, "Invalid value at 'instances'"),
        ({"instances": [_P, _P]}, "Only one instance"),
        ({"instances": ["a cat"]}, "must be an object"),
        ({"instances": [{}]}, "prompt` is required"),
        ({"instances": [{"prompt": ""}]}, "must not be empty"),
        ({"instances": [{"prompt": 7}]}, "must be a string"),
        ({"instances": [{**_P, "lastFrame": IMAGE}]}, "`lastFrame` isn't supported"),
        ({"instances": [{**_P, "image": "data:image/png;base64,AAAA"}]}, "must be an object"),
        ({"instances": [{**_P, "image": {"mimeType": "image/png"}}]},
         "bytesBase64Encoded` is required"),
        ({"instances": [{**_P, "image": {**IMAGE, "bytesBase64Encoded": "!!"}}]},
         "Base64 decoding failed"),
        ({"instances": [{**_P, "image": {**IMAGE, "bytesBase64Encoded": "AAAA"}}]},
         "not a supported image"),
        ({"instances": [{**_P, "image": {"bytesBase64Encoded": IMAGE["bytesBase64Encoded"]}}]},
         "mimeType` is required"),
        ({"instances": [{**_P, "image": {**IMAGE, "mimeType": "image/gif"}}]},
         "Unsupported value"),
        ({"instances": [{**_P, "image": {**IMAGE, "gcsUri": "gs://b/o.png"}}]},
         "`gcsUri` isn't supported"),
        ({"instances": [_P], "parameters": []}, "`parameters` must be an object"),
        ({"instances": [_P], "parameters": {"aspectRatio": "1:1"}}, "aspectRatio"),
        ({"instances": [_P], "parameters": {"durationSeconds": 5}}, "durationSeconds"),
        ({"instances": [_P], "parameters": {"durationSeconds": "8s"}}, "durationSeconds"),
        ({"instances": [_P], "parameters": {"durationSeconds": 8.5}}, "durationSeconds"),
        ({"instances": [_P], "parameters": {"resolution": "4k"}}, "resolution"),
        ({"instances": [_P], "parameters": {"negativePrompt": ["x"]}}, "negativePrompt"),
        ({"instances": [_P], "parameters": {"personGeneration": "everyone"}}, "personGeneration"),
        ({"instances": [_P], "parameters": {"sampleCount": 2}}, "sampleCount"),
        ({"instances": [_P], "parameters": {"sampleCount": True}}, "sampleCount"),
        ({"instances": [_P], "parameters": {"seed": -1}}, "seed"),
        ({"instances": [_P], "parameters": {"generateAudio": True}},
         "`generateAudio` isn't supported"),
        ({"instances": [_P], "prompt": PROMPT}, 'Unknown name "prompt"'),
        ({"instances": [_P], "model": 3}, "Invalid value at 'model'"),
    ],
)  # fmt: skip
def test_validation_is_a_400_invalid_argument(http, sim, body, fragment):
    error = error_of(create(http, sim, body), 400, "INVALID_ARGUMENT")
    assert fragment in error["message"]


def test_bad_json_and_accepted_extras(http, sim):
    error_of(create(http, sim, raw=b"{not json"), 400, "INVALID_ARGUMENT")
    # The body's own `model` field is allowed (the URL's model wins).
    name = created(http, sim, {**veo_body(), "model": "models/whatever"})
    assert name.startswith(f"models/{MODEL}/operations/")


def test_auth_on_create_and_poll(http, sim):
    error_of(create(http, sim, headers={}), 403, "PERMISSION_DENIED")
    error_of(create(http, sim, headers={"authorization": "Bearer k"}), 401, "UNAUTHENTICATED")
    assert create(http, sim, headers={}, params={"key": "k"}).status_code == 200

    name = created(http, sim, faults="job_ms=0")
    error_of(poll(http, sim, name, headers={}), 403, "PERMISSION_DENIED")
    assert poll(http, sim, name, headers={}, params={"key": "k"}).json()["done"] is True


def test_download_requires_the_key_and_alt_media(http, sim):
    name = created(http, sim, faults="job_ms=0")
    uri = video_uri(poll(http, sim, name).json())
    # Unlike Ark's pre-signed links, a bare GET is refused.
    with requests.Session() as bare:
        bare.trust_env = False
        error_of(bare.get(uri, timeout=5), 403, "PERMISSION_DENIED")
        error_of(bare.get(uri, headers={"authorization": "Bearer k"}, timeout=5), 401,
                 "UNAUTHENTICATED")  # fmt: skip
        assert bare.get(uri + "&key=k", timeout=5).content[4:8] == b"ftyp"
    without_alt = uri.removesuffix("?alt=media")
    error = error_of(http.get(without_alt, headers=KEY, timeout=5), 400, "INVALID_ARGUMENT")
    assert "alt=media" in error["message"]


# --- faults -----------------------------------------------------------------------------------


def test_create_faults(http, sim):
    limited = create(http, sim, faults="status=429")
    error = error_of(limited, 429, "RESOURCE_EXHAUSTED")
    assert limited.headers["retry-after"] == "1"
    assert error["details"][-1]["retryDelay"] == "1s"
    error_of(create(http, sim, veo_body(PROMPT + " [sim status=503]")), 503, "UNAVAILABLE")
    coded = create(http, sim, faults="status=400,code=API_KEY_INVALID")
    assert error_of(coded, 400, "INVALID_ARGUMENT")["details"][0]["reason"] == "API_KEY_INVALID"

    malformed = create(http, sim, faults="malformed")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        json.loads(malformed.content)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        create(http, sim, faults="cut_after=0")
    with pytest.raises(requests.ConnectionError):
        create(http, sim, faults="reset")
    with pytest.raises(requests.ConnectionError):
        create(http, sim, veo_body(PROMPT + " [sim reset]"))

    started = time.monotonic()
    assert create(http, sim, veo_body(PROMPT + " [sim latency_ms=200]")).status_code == 200
    assert time.monotonic() - started >= 0.2
    with pytest.raises(requests.Timeout):
        http.post(
            f"{root(sim)}/models/{MODEL}:predictLongRunning",
            json=veo_body(),
            headers={**KEY, "x-sim-fault": "hang_s=2"},
            timeout=0.3,
        )
    error = error_of(create(http, sim, faults="nonsense=1"), 400, "INVALID_ARGUMENT")
    assert "bad fault spec" in error["message"]


def test_job_faults_come_from_the_scope_and_control_api(http, sim):
    scope = f"job=fail,job_ms=0,{unique_scope('veo-scope')}"  # the name is a fault spec
    done = poll(http, sim, created(http, sim, scope=scope)).json()
    assert done["done"] is True and "error" in done
    configured = unique_scope("veo-configured")
    sim.set_fault(configured, job="filtered", job_ms=0, times=1)
    done = poll(http, sim, created(http, sim, scope=configured)).json()
    assert done["response"]["generateVideoResponse"]["raiMediaFilteredCount"] == 1
    # `times=1` is used up: the next one completes normally.
    name = created(http, sim, scope=configured, faults="job_ms=0")
    assert "generatedSamples" in poll(http, sim, name).json()["response"]["generateVideoResponse"]


def test_poll_faults_of_the_scope(http, sim):
    scope = unique_scope("veo-poll")
    name = created(http, sim, scope=scope, faults="job_ms=0")
    sim.set_fault(scope, status=500, times=1)
    error_of(poll(http, sim, name, scope=scope), 500, "INTERNAL")
    assert poll(http, sim, name, scope=scope).json()["done"] is True
    failed = poll(http, sim, name, headers={**KEY, "x-sim-fault": "status=503"})
    error_of(failed, 503, "UNAVAILABLE")


def test_download_ms_delays_the_bytes(http, sim):
    name = created(http, sim, faults="job_ms=0 download_ms=400")
    uri = video_uri(poll(http, sim, name).json())
    started = time.monotonic()
    with http.get(uri, headers=KEY, stream=True, timeout=5) as response:
        assert response.status_code == 200
        assert time.monotonic() - started < 0.35  # the headers come at once
        assert int(response.headers["content-length"]) == 8 * BYTES_PER_SECOND
        data = response.content
    assert time.monotonic() - started >= 0.4
    assert data[4:8] == b"ftyp"
    with pytest.raises((requests.ConnectionError, requests.Timeout)):
        http.get(uri, headers=KEY, timeout=0.15)


def test_download_faults_of_its_scope_and_header(http, sim):
    scope = unique_scope("veo-dl")
    name = created(http, sim, scope=scope, faults="job_ms=0")
    uri = video_uri(poll(http, sim, name).json())
    sim.set_fault(scope, status=503, times=1)
    error_of(http.get(uri, headers=KEY, timeout=5), 503, "UNAVAILABLE")
    assert http.get(uri, headers=KEY, timeout=5).status_code == 200
    failed = http.get(uri, headers={**KEY, "x-sim-fault": "status=500"}, timeout=5)
    error_of(failed, 500, "INTERNAL")
    half = http.get(uri, headers={**KEY, "x-sim-fault": "malformed"}, timeout=5)
    assert half.status_code == 200
    assert len(half.content) == 8 * BYTES_PER_SECOND // 2
    with pytest.raises(requests.ConnectionError):
        http.get(uri, headers={**KEY, "x-sim-fault": "reset"}, timeout=5)
    endpoints = sim.stats()["scopes"][scope]["endpoints"]
    assert endpoints["POST /v1beta/models/{model}:predictLongRunning"] == 1
    assert endpoints["GET /v1beta/files/{file}:download"] == 5


# --- determinism ------------------------------------------------------------------------------


def test_same_request_same_video(http, sim):
    body = veo_body(durationSeconds=6, aspectRatio="9:16")
    first, second = (created(http, sim, body, faults="job_ms=0") for _ in range(2))
    assert first != second  # two operations ...
    uris = [video_uri(poll(http, sim, name).json()) for name in (first, second)]
    assert uris[0] != uris[1]  # ... two files ...
    videos = [http.get(uri, headers=KEY, timeout=5).content for uri in uris]
    assert videos[0] == videos[1] == veo_mp4(MODEL, PROMPT, 6, "720p", "9:16")  # ... one video


def test_veo_mp4_is_deterministic():
    base = veo_mp4(MODEL, PROMPT)
    assert base == veo_mp4(MODEL, PROMPT, 8, "720p", "16:9")
    assert base[4:8] == b"ftyp"
    assert veo_mp4(MODEL, PROMPT + "!") != base
    assert veo_mp4("veo-3.0-fast-generate-001", PROMPT) != base
    assert veo_mp4(MODEL, PROMPT, 8, "1080p") != base
    assert veo_mp4(MODEL, PROMPT, 8, "720p", "9:16") != base
    assert len(veo_mp4(MODEL, PROMPT, 4)) == len(base) // 2
    assert frame_size() == (1280, 720)
    assert frame_size("1080p", "9:16") == (1080, 1920)
