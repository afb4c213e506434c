"""Images and videos served by the other provider protocols, through the simulator: Gemini's
image output (inlineData) and ByteDance Ark's Seedream images and Seedance video tasks. The
client always speaks OpenAI's images and videos APIs; charges are exact."""

from __future__ import annotations

import base64
import struct

import pytest

from catalog import selectors
from catalog.models import Provider, Route
from gateway.models import UsageRecord
from tests.gateway.conftest import LOW, OTHER, PER_SECOND_720P
from tests.gateway.test_videos import run_until_done

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


def route_to(gateway, model, *, kind: str, scope: str, suffix: str, upstream: str) -> Provider:
    provider = Provider.objects.create(
        slug=f"sim-{kind}-media", name=f"Sim {kind}", kind=kind,
        base_url=gateway.sim.url(scope, suffix=suffix), api_key=f"{kind}-test-key",
        first_byte_timeout_ms=2000, read_timeout_ms=5000,
    )  # fmt: skip
    Route.objects.filter(model=model).update(provider=provider, upstream_model=upstream)
    selectors.invalidate()
    return provider


def test_gemini_image_output_serves_openai_image_requests(gateway, image_model):
    route_to(gateway, image_model, kind="gemini", scope="g", suffix="",
             upstream="gemini-2.5-flash-image")  # fmt: skip
    before = gateway.balance()
    result = gateway.client().images.generate(
        model="sim-image", prompt="A lantern", n=2, size="1536x1024"
    )
    pictures = [base64.b64decode(item.b64_json) for item in result.data]
    assert len(pictures) == 2 and len(set(pictures)) == 2
    width, height = png_size(pictures[0])
    assert width > height  # the 3:2 aspect ratio reached Gemini's imageConfig
    assert gateway.balance() == before - 2 * OTHER
    assert UsageRecord.objects.get().provider_slug == "sim-gemini-media"


def test_gemini_edits_send_the_uploaded_image_and_partial_answers_pay_per_image(
    gateway, image_model
):
    from simulator.openai_images import solid_png

    route_to(gateway, image_model, kind="gemini", scope="g", suffix="",
             upstream="gemini-2.5-flash-image")  # fmt: skip
    client = gateway.client()
    one = solid_png(64, 64, bytes((255, 0, 0)))
    two = solid_png(64, 64, bytes((0, 0, 255)))
    edit = lambda picture: client.images.edit(  # noqa: E731
        model="sim-image", image=("in.png", picture, "image/png"), prompt="Make it glow",
        size="1024x1024", quality="low",
    )  # fmt: skip
    assert edit(one).data[0].b64_json != edit(two).data[0].b64_json  # the image reached Gemini
    before = gateway.balance()
    partial = client.images.generate(
        model="sim-image", prompt="[sim images=1] Two cats", n=2, size="1024x1024", quality="low"
    )
    assert len(partial.data) == 1 and gateway.balance() == before - LOW


def test_ark_seedream_serves_openai_image_requests(gateway, image_model):
    route_to(gateway, image_model, kind="ark", scope="k", suffix="/api/v3",
             upstream="seedream-4-0-250828")  # fmt: skip
    before = gateway.balance()
    single = gateway.client().images.generate(
        model="sim-image", prompt="A garden", size="1024x1024", quality="low"
    )
    assert png_size(base64.b64decode(single.data[0].b64_json)) == (1024, 1024)
    group = gateway.client().images.generate(
        model="sim-image", prompt="A garden, four seasons", n=3, size="1024x1024", quality="low"
    )
    assert len(group.data) == 3
    assert gateway.balance() == before - 4 * LOW


def test_ark_seedance_serves_openai_video_jobs(gateway, video_model):
    route_to(gateway, video_model, kind="ark", scope="k", suffix="/api/v3",
             upstream="seedance-1-0-pro-250528")  # fmt: skip
    client = gateway.client()
    before = gateway.balance()
    created = client.videos.create(
        model="sim-video", prompt="[sim job_ms=300] A harbour at dawn", seconds="4",
        size="1280x720",
    )  # fmt: skip
    job = run_until_done(created.id)
    assert job.status == "completed" and job.provider_slug == "sim-ark-media"
    content = client.videos.download_content(created.id).read()
    assert content[4:8] == b"ftyp"
    assert gateway.balance() == before - 4 * PER_SECOND_720P
    failed = client.videos.create(model="sim-video", prompt="[sim job=fail] A storm", seconds="4")
    assert run_until_done(failed.id).error_code == "video_generation_failed"
    assert gateway.balance() == before - 4 * PER_SECOND_720P  # the failed one was refunded
    gateway.assert_books_closed()


def test_gemini_veo_serves_openai_video_jobs(gateway, video_model):
    route_to(gateway, video_model, kind="gemini", scope="veo", suffix="",
             upstream="veo-3.1-generate-preview")  # fmt: skip
    client = gateway.client()
    before = gateway.balance()
    created = client.videos.create(
        model="sim-video", prompt="[sim job_ms=300] A desert road", seconds="8", size="1280x720"
    )
    job = run_until_done(created.id)
    assert job.status == "completed" and job.upstream_id.startswith("models/")
    assert client.videos.download_content(created.id).read()[4:8] == b"ftyp"  # fetched with our key
    assert gateway.balance() == before - 8 * PER_SECOND_720P
    filtered = client.videos.create(
        model="sim-video", prompt="[sim job=filtered] Something", seconds="8", size="1280x720"
    )
    assert run_until_done(filtered.id).error_code == "video_generation_failed"
    assert gateway.balance() == before - 8 * PER_SECOND_720P
    gateway.assert_books_closed()


# The generic task adapter, described by data, pointed at two different task APIs of the
# simulator: what staff would do for Vidu, Grok Imagine or Happy Horse.
ARK_LIKE = {
    "create_path": "/contents/generations/tasks",
    "create_body": {"model": "{model}", "duration": "{seconds}", "resolution": "{resolution}",
                    "content": [{"type": "text", "text": "{prompt}"}]},
    "id_field": "id",
    "poll_path": "/contents/generations/tasks/{id}",
    "status_field": "status",
    "statuses": {"queued": "queued", "running": "in_progress", "succeeded": "completed",
                 "failed": "failed"},
    "result_url_field": "content.video_url",
}  # fmt: skip
OPENAI_LIKE = {
    "create_path": "/videos",
    "create_body": {"model": "{model}", "prompt": "{prompt}", "seconds": "{seconds}",
                    "size": "{size}"},
    "poll_path": "/videos/{id}",
    "statuses": {"queued": "queued", "in_progress": "in_progress", "completed": "completed",
                 "failed": "failed"},
    "progress_field": "progress",
    "content_path": "/videos/{id}/content",
}  # fmt: skip


@pytest.mark.parametrize(
    "options,suffix", [(ARK_LIKE, "/api/v3"), (OPENAI_LIKE, "/v1")], ids=["ark-like", "openai-like"]
)
def test_a_task_api_described_by_data_serves_video_jobs(gateway, video_model, options, suffix):
    provider = route_to(gateway, video_model, kind="async_task", scope="t", suffix=suffix,
                        upstream="vidu-q3")  # fmt: skip
    Provider.objects.filter(pk=provider.pk).update(options=options)
    selectors.invalidate()
    client = gateway.client()
    before = gateway.balance()
    created = client.videos.create(
        model="sim-video", prompt="[sim job_ms=200] A meadow", seconds="4", size="1280x720"
    )
    job = run_until_done(created.id)
    assert job.status == "completed"
    assert client.videos.download_content(created.id).read()[4:8] == b"ftyp"
    assert gateway.balance() == before - 4 * PER_SECOND_720P
    failed = client.videos.create(model="sim-video", prompt="[sim job=fail] A storm", seconds="4")
    assert run_until_done(failed.id).error_code == "video_generation_failed"
    assert gateway.balance() == before - 4 * PER_SECOND_720P
    gateway.assert_books_closed()
