"""Enhance Video (a tool model): the client uploads a video as `input_reference` to
/v1/videos; the job is priced by that video's length, read from the file itself, and the
result is the upstream's remake of it (the simulator's output hashes the input)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson
import pytest
import requests

from catalog import selectors
from catalog.models import Model, Price, Provider, Route
from catalog.selectors import RouteInfo
from gateway.models import UsageRecord, VideoJob
from gateway.multipart import UploadedFile
from gateway.providers.async_task import AsyncTaskAdapter
from gateway.schemas import parse_video
from gateway.sniff import movie
from simulator.openai_images import solid_png
from simulator.openai_videos import video_mp4
from tests.gateway.conftest import PER_SECOND_720P
from tests.gateway.test_videos import run_until_done

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

ENHANCE_720P = 20_000  # micro-credits per second of output


@pytest.fixture
def tool_model(gateway) -> Model:
    provider = Provider.objects.create(
        slug="sim-enhance", name="Sim enhance", kind="simulator", base_url=gateway.sim.url("e"),
        first_byte_timeout_ms=2000, read_timeout_ms=5000,
    )  # fmt: skip
    model = Model.objects.create(
        slug="sim-enhance", display_name="Sim Enhance", kind="tool", owned_by="reapi",
        max_video_seconds=10,
    )  # fmt: skip
    Route.objects.create(model=model, provider=provider, upstream_model="enhance-video-1.0")
    Price.objects.create(
        model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        video_micros_per_second={"720p": ENHANCE_720P, "1080p": 2 * ENHANCE_720P},
    )  # fmt: skip
    selectors.invalidate()
    return model


def post_form(gateway, fields: dict[str, str], upload: bytes | None) -> requests.Response:
    """multipart/form-data, as the SDK sends it (fields as parts without a file name)."""
    parts = [(name, (None, value)) for name, value in fields.items()]
    if upload is not None:
        parts.append(("input_reference", ("clip.mp4", upload, "video/mp4")))
    return requests.post(
        gateway.url + "/v1/videos",
        files=parts,
        headers={"authorization": f"Bearer {gateway.raw_key}"},
        timeout=10,
    )


def test_an_uploaded_video_is_remade_and_charged_by_its_own_length(gateway, tool_model):
    clip = movie(3200, payload=b"grainy footage")  # 3.2 s: four seconds are charged
    before = gateway.balance()
    created = gateway.client().videos.create(
        model="sim-enhance", prompt="Sharpen and denoise", size="1280x720",
        input_reference=("clip.mp4", clip, "video/mp4"),
    )  # fmt: skip
    assert created.seconds == "4"
    assert gateway.balance() == before - 4 * ENHANCE_720P  # held at once
    assert run_until_done(created.id).status == "completed"
    content = gateway.client().videos.download_content(created.id).read()
    source = hashlib.sha256(clip).hexdigest()
    assert content == video_mp4("enhance-video-1.0", "Sharpen and denoise", "4", "1280x720",
                                source)  # fmt: skip
    row = UsageRecord.objects.get(endpoint="videos")
    assert (row.units, row.charged_micros) == (4, 4 * ENHANCE_720P)
    assert gateway.balance() == before - 4 * ENHANCE_720P
    gateway.assert_books_closed()


def test_a_tool_needs_no_prompt_and_the_result_follows_the_input(gateway, tool_model):
    before = gateway.balance()
    ids = []
    for payload in (b"first clip", b"second clip"):
        answer = post_form(gateway, {"model": "sim-enhance", "seconds": "2"},
                           movie(2000, payload=payload))  # fmt: skip
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["id"])
    for job_id in ids:
        assert run_until_done(job_id).status == "completed"
    client = gateway.client()
    first, second = (client.videos.download_content(job_id).read() for job_id in ids)
    assert first != second and first[4:8] == second[4:8] == b"ftyp"
    assert gateway.balance() == before - 2 * 2 * ENHANCE_720P


@pytest.mark.parametrize(
    "model,fields,upload,param",
    [
        ("sim-enhance", {"prompt": "Sharpen"}, None, "input_reference"),  # nothing to enhance
        ("sim-enhance", {}, b"just some text, not a video", "input_reference"),
        ("sim-enhance", {}, movie(3000)[:24] + b"\x00\x00\x00\x08mdat", "input_reference"),
        ("sim-enhance", {"seconds": "8"}, movie(3200), "seconds"),  # it lasts 4 s, rounded up
        ("sim-enhance", {}, movie(10_500), "input_reference"),  # the model takes at most 10 s
        ("sim-enhance", {"size": "3840x2160"}, movie(2000), "size"),  # no 4k price
        ("sim-video", {"prompt": "Animate"}, movie(2000), "input_reference"),  # images only
    ],
)
def test_bad_inputs_get_a_400_and_change_nothing(
    gateway, tool_model, video_model, model, fields, upload, param
):
    before = gateway.balance()
    answer = post_form(gateway, {"model": model, **fields}, upload)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param
    assert gateway.balance() == before and not VideoJob.objects.exists()
    assert gateway.sim.request_count("e") == 0 and gateway.sim.request_count("v") == 0


def test_an_image_declared_as_a_video_is_judged_by_its_bytes(gateway, video_model):
    picture = solid_png(32, 32, bytes((10, 200, 10)))
    before = gateway.balance()
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job_ms=0] Animate this", seconds="4", size="1280x720",
        input_reference=("still.mp4", picture, "video/mp4"),  # the name and type lie
    )  # fmt: skip
    assert run_until_done(created.id).status == "completed"
    assert gateway.balance() == before - 4 * PER_SECOND_720P


def test_a_described_task_api_takes_inputs_as_data_urls_where_its_body_names_them():
    options = {
        "create_path": "/tasks",
        "poll_path": "/tasks/{id}",
        "create_body": {"model": "{model}", "video": "{input_video_url}",
                        "refs": [{"image": "{input_image_url}"}]},
    }  # fmt: skip
    route = RouteInfo(
        id=1, provider_slug="tasks", provider_kind="async_task", base_url="http://127.0.0.1:9",
        api_key="k", upstream_model="enhance-1", priority=0, weight=1, connect_timeout_ms=1,
        first_byte_timeout_ms=1, read_timeout_ms=1, options=options,
    )  # fmt: skip
    adapter = AsyncTaskAdapter()
    clip = movie(2000)
    enhance = parse_video({"model": "x"}, UploadedFile("clip.mov", "text/plain", clip))
    body = orjson.loads(adapter.video_create_request(route, enhance).body)
    video_url = "data:video/mp4;base64," + base64.b64encode(clip).decode()
    assert body == {"model": "enhance-1", "video": video_url}
    png = solid_png(8, 8, b"\x01\x02\x03")
    still = parse_video({"model": "x", "prompt": "p"}, UploadedFile("a.png", "image/png", png))
    body = orjson.loads(adapter.video_create_request(route, still).body)
    assert body["refs"] == [{"image": "data:image/png;base64," + base64.b64encode(png).decode()}]
    assert "video" not in body  # named an input this request did not bring: left out
    options["create_body"] = {"model": "{model}", "prompt": "{prompt}"}
    with pytest.raises(NotImplementedError):  # an input the API is not described as taking
        adapter.video_create_request(route, enhance)


def test_a_generated_video_can_be_sent_back_to_be_enhanced(gateway, video_model, tool_model):
    client = gateway.client()
    made = client.videos.create(model="sim-video", prompt="[sim job_ms=0] Surf", seconds="8",
                                size="1280x720")  # fmt: skip
    run_until_done(made.id)
    generated = client.videos.download_content(made.id).read()
    before = gateway.balance()
    enhanced = client.videos.create(
        model="sim-enhance", prompt="Upscale", size="1920x1080",
        input_reference=("surf.mp4", generated, "video/mp4"),
    )  # fmt: skip
    assert (enhanced.seconds, enhanced.size) == ("8", "1920x1080")
    assert run_until_done(enhanced.id).status == "completed"
    assert gateway.balance() == before - 8 * 2 * ENHANCE_720P  # 8 s of 1080p
