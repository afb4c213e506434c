"""Video jobs through /v1/videos against the simulator's videos API: the openai SDK, the hold
and the settle, failures and timeouts refunded, a job whose worker died, deletion,
retention, other users. `videos.advance_due()` is what the Celery beat task runs; these
tests call it directly (tests/gateway/test_video_worker.py runs a real worker)."""

from __future__ import annotations

import time
from datetime import timedelta

import openai
import pytest
import requests
from django.utils import timezone

from accounts import keys
from accounts.models import User
from billing import ledger
from billing.models import Hold
from gateway import videos
from gateway.models import Asset, UsageRecord, VideoJob
from tests.gateway.conftest import PER_SECOND_720P

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def run_until_done(job_id: str, limit_s: float = 10.0) -> VideoJob:
    """What the beat task does every two seconds, faster."""
    deadline = time.monotonic() + limit_s
    while True:
        videos.advance_due()
        job = VideoJob.objects.get(pk=job_id)
        if job.status not in videos.IN_FLIGHT:
            return job
        assert time.monotonic() < deadline, f"job still {job.status}"
        VideoJob.objects.filter(pk=job_id).update(next_poll_at=timezone.now())  # skip backoff
        time.sleep(0.1)


def test_a_video_job_is_held_then_charged_once_and_its_file_served(gateway, video_model):
    client = gateway.client()
    before = gateway.balance()
    created = client.videos.create(
        model="sim-video", prompt="[sim job_ms=500] Waves at dusk", seconds="4", size="1280x720"
    )
    assert created.id.startswith("video_") and created.status in {"queued", "in_progress"}
    assert gateway.balance() == before - 4 * PER_SECOND_720P  # held at once
    job = run_until_done(created.id)
    assert job.status == "completed" and job.progress == 100
    fetched = client.videos.retrieve(created.id)
    assert fetched.status == "completed" and fetched.progress == 100
    assert gateway.balance() == before - 4 * PER_SECOND_720P
    row = UsageRecord.objects.get(request_id=job.request_id)
    assert (row.endpoint, row.status, row.units, row.charged_micros) == (
        "videos", "ok", 4, 4 * PER_SECOND_720P,
    )  # fmt: skip
    content = client.videos.download_content(created.id).read()
    assert content[4:8] == b"ftyp" and b"isom" in content[:16]
    assert len(content) == Asset.objects.get().size_bytes
    gateway.assert_books_closed()


def test_a_failed_job_is_refunded_in_full(gateway, video_model):
    before = gateway.balance()
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job=fail] A storm", seconds="8", size="1280x720"
    )
    job = run_until_done(created.id)
    assert (job.status, job.error_code) == ("failed", "video_generation_failed")
    fetched = gateway.client().videos.retrieve(created.id)
    assert fetched.error.code == "video_generation_failed"
    assert gateway.balance() == before
    row = UsageRecord.objects.get(request_id=job.request_id)
    assert (row.status, row.charged_micros) == ("upstream_error", 0)
    gateway.assert_books_closed()


def test_a_job_that_never_finishes_times_out_and_is_refunded(gateway, video_model, settings):
    settings.VIDEO_JOB_TIMEOUT_S = 1
    before = gateway.balance()
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job=stuck] A river", seconds="4", size="1280x720"
    )
    time.sleep(1.1)
    job = run_until_done(created.id)
    assert (job.status, job.error_code) == ("failed", "timeout")
    assert gateway.balance() == before
    gateway.assert_books_closed()


def test_a_job_whose_worker_died_is_finished_by_another_and_charged_once(gateway, video_model):
    before = gateway.balance()
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job_ms=200] A forest", seconds="4", size="1280x720"
    )
    job_id = created.id
    # A worker claims the job (its lease moves next_poll_at on), then dies: nobody else may
    # touch the job until the lease runs out...
    claimed_until = timezone.now() + timedelta(seconds=120)
    VideoJob.objects.filter(pk=job_id).update(next_poll_at=claimed_until)
    time.sleep(0.3)
    assert videos.advance_due() == 0
    # ...then the next sweep takes it up and finishes it.
    VideoJob.objects.filter(pk=job_id).update(next_poll_at=timezone.now())
    job = run_until_done(job_id)
    assert job.status == "completed"
    # A second worker that also thought the job was due (it settled, then died before
    # marking it) settles again: the ledger keeps one charge and one file.
    VideoJob.objects.filter(pk=job_id).update(status="in_progress", next_poll_at=timezone.now())
    assert videos.advance(job_id) == "completed"
    assert gateway.balance() == before - 4 * PER_SECOND_720P
    assert Asset.objects.count() == 1
    assert Hold.objects.get(request_id=job.request_id).state == "settled"
    gateway.assert_books_closed()


def test_deleting_an_unfinished_job_cancels_and_refunds_it(gateway, video_model):
    before = gateway.balance()
    client = gateway.client()
    created = client.videos.create(
        model="sim-video", prompt="[sim job_ms=60000] A city", seconds="4", size="1280x720"
    )
    deleted = client.videos.delete(created.id)
    assert deleted.deleted is True
    assert gateway.balance() == before
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(created.id)
    assert videos.advance_due() == 0  # no longer polled
    gateway.assert_books_closed()


def test_a_finished_videos_file_goes_with_delete_and_after_retention(gateway, video_model):
    client = gateway.client()
    first = client.videos.create(model="sim-video", prompt="[sim job_ms=0] One", seconds="4")
    second = client.videos.create(model="sim-video", prompt="[sim job_ms=0] Two", seconds="4")
    run_until_done(first.id)
    run_until_done(second.id)
    client.videos.delete(first.id)
    assert Asset.objects.get(request_id=VideoJob.objects.get(pk=first.id).request_id).deleted_at
    Asset.objects.filter(request_id=VideoJob.objects.get(pk=second.id).request_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    gone = requests.get(
        f"{gateway.url}/v1/videos/{second.id}/content",
        headers={"authorization": f"Bearer {gateway.raw_key}"}, timeout=5, allow_redirects=False,
    )  # fmt: skip
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "video_expired"


def test_other_users_jobs_are_invisible(gateway, video_model):
    created = gateway.client().videos.create(model="sim-video", prompt="Mine", seconds="4")
    bob = User.objects.create_user("bob@example.com", "bob-password-1")
    ledger.grant(ledger.account_for(bob), amount_micros=10**9, idempotency_key="fund-bob")
    _, bob_key = keys.create(bob, name="bob")
    bob_client = gateway.client(api_key=bob_key)
    for call in (
        lambda: bob_client.videos.retrieve(created.id),
        lambda: bob_client.videos.delete(created.id),
        lambda: bob_client.videos.download_content(created.id),
    ):
        with pytest.raises(openai.NotFoundError) as hidden:
            call()
        assert "video_not_found" in str(hidden.value.body)
    assert bob_client.videos.list().data == []
    assert [v.id for v in gateway.client().videos.list().data] == [created.id]
    assert VideoJob.objects.get(pk=created.id).status != "deleted"


def test_a_listing_pages_newest_first(gateway, video_model):
    client = gateway.client()
    ids = [client.videos.create(model="sim-video", prompt=f"Clip {i}", seconds="4").id
           for i in range(3)]  # fmt: skip
    page = client.videos.list(limit=2)
    assert [v.id for v in page.data] == ids[::-1][:2] and page.has_more
    rest = client.videos.list(limit=2, after=page.data[-1].id)
    assert [v.id for v in rest.data] == [ids[0]] and not rest.has_more


def test_an_input_image_is_sent_as_a_form_like_the_sdk_does(gateway, video_model):
    from simulator.openai_images import solid_png

    picture = solid_png(64, 64, bytes((200, 30, 30)))
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job_ms=0] Animate this", seconds="4", size="1280x720",
        input_reference=("still.png", picture, "image/png"),
    )  # fmt: skip
    assert run_until_done(created.id).status == "completed"


@pytest.mark.parametrize(
    "body,param",
    [
        ({"seconds": "20"}, "seconds"),  # the model makes at most 12
        ({"size": "3840x2160"}, "size"),  # no 4k price
        ({"size": "big"}, "size"),
        ({"colour": "red"}, "colour"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_bad_video_requests_get_a_400_and_change_nothing(gateway, video_model, body, param):
    before = gateway.balance()
    response = requests.post(
        gateway.url + "/v1/videos",
        json={"model": "sim-video", "prompt": "A cat", **body},
        headers={"authorization": f"Bearer {gateway.raw_key}"},
        timeout=5,
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert gateway.balance() == before and not VideoJob.objects.exists()
    assert gateway.sim.request_count("v") == 0


def test_an_unexpected_file_is_refused_as_image_edits_refuse_it(gateway, video_model):
    """The same error, code included, whichever form endpoint gets a file it does not take."""
    png = ("in.png", b"\x89PNG\r\n\x1a\n....", "image/png")
    before = gateway.balance()
    answers = [
        requests.post(
            gateway.url + path, files={"photo": png}, data={"model": model, "prompt": "x"},
            headers={"authorization": f"Bearer {gateway.raw_key}"}, timeout=5,
        ).json()["error"]
        for path, model in (("/v1/videos", "sim-video"), ("/v1/images/edits", "sim-video"))
    ]  # fmt: skip
    assert answers[0] == answers[1] == {
        "message": "Unexpected file field 'photo'.", "type": "invalid_request_error",
        "param": "photo", "code": "invalid_value",
    }  # fmt: skip
    assert gateway.balance() == before and not VideoJob.objects.exists()


def test_a_submission_no_upstream_accepts_charges_nothing(gateway, video_model):
    gateway.sim.set_fault("v", status=503)
    before = gateway.balance()
    with pytest.raises(openai.APIStatusError) as failed:
        gateway.client().videos.create(model="sim-video", prompt="A cat", seconds="4")
    assert failed.value.status_code == 502
    assert gateway.balance() == before and not VideoJob.objects.exists()
    gateway.assert_books_closed()
