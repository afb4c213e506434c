"""Video jobs: the rules, called by the /v1/videos handlers and by Celery.

- `POST /v1/videos` holds the job's whole price, submits it upstream at once (with failover,
  through the router) and creates the job row. Submitting in the request, not in a worker,
  keeps the prompt and any input image out of our database and our broker (DESIGN.md: we
  never store what was asked).
- `advance(job_id)` polls the upstream once: progress; or, when it is done, copies the file
  into storage and settles the hold for the job's price; or, when it failed, was lost, or
  passed VIDEO_JOB_TIMEOUT_S, releases the hold in full. A worker claims a job by moving its
  `next_poll_at` forward (a lease), so two workers never poll one job at once and a job whose
  worker died is taken up again when the lease runs out. Settling and releasing go through
  the ledger, keyed by the job's request id: whatever happens twice charges once.
- Celery runs `advance` for every due job every two seconds (`gateway.advance_video_jobs`,
  beat), which is also what makes a killed worker harmless.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing import ledger
from billing.models import Hold
from catalog import selectors
from catalog.models import Route
from catalog.selectors import RouteInfo
from gateway import assets
from gateway import usage as usage_rows
from gateway.errors import ApiError
from gateway.models import Asset, UsageRecord, VideoJob
from gateway.providers import adapter_for
from gateway.providers.base import UpstreamProtocolError

logger = logging.getLogger(__name__)


def lease_s() -> int:
    """A claimed job is left alone this long (its poll and download fit in it); after that a
    job whose worker died is taken up again."""
    return settings.VIDEO_POLL_LEASE_S


BACKOFF_S = (1, 1, 2, 2, 3, 5, 5, 10, 10, 15, 30)  # between polls, growing with their number
MAX_VIDEO_BYTES = 512 * 1024 * 1024
IN_FLIGHT = (VideoJob.Status.QUEUED, VideoJob.Status.IN_PROGRESS)


def new_id() -> str:
    return "video_" + uuid.uuid4().hex


def create(admission: Any, submitted: Any) -> VideoJob:
    """The job row for a request the upstream accepted (`submitted`: router.Completed)."""
    now = timezone.now()
    video = admission.request
    body = submitted.result.body
    return VideoJob.objects.create(
        id=new_id(),
        user_id=admission.key.owner_id,
        api_key_id=admission.key.id,
        request_id=admission.request_id,
        model_slug=admission.model.slug,
        provider_slug=submitted.route.provider_slug,
        route_id=submitted.route.id,
        upstream_id=body["upstream_id"],
        status=body["status"] if body["status"] in IN_FLIGHT else VideoJob.Status.QUEUED,
        progress=body["progress"] if body["status"] != "completed" else 99,
        seconds=video.seconds,
        size=video.size,
        held_micros=admission.hold.amount_micros,
        created_at=now,
        deadline_at=now + timedelta(seconds=settings.VIDEO_JOB_TIMEOUT_S),
        next_poll_at=now,
        callback_url=video.callback_url,
        webhook_state="pending" if video.callback_url else "",
    )


def serialize(job: VideoJob) -> dict[str, Any]:
    """OpenAI's video object, with our id (never the upstream's)."""
    error = None
    if job.status == VideoJob.Status.FAILED:
        error = {"code": job.error_code, "message": ERROR_MESSAGES.get(job.error_code, "")}
    return {
        "id": job.id,
        "object": "video",
        "model": job.model_slug,
        "status": job.status,
        "progress": job.progress,
        "created_at": int(job.created_at.timestamp()),
        "completed_at": int(job.completed_at.timestamp()) if job.completed_at else None,
        "expires_at": int(job.asset.expires_at.timestamp()) if job.asset else None,
        "seconds": str(job.seconds),
        "size": job.size,
        "quality": "standard",
        "remixed_from_video_id": None,
        "error": error,
        "credits_held": job.held_micros,
        "credits_charged": job.charged_micros,
    }


ERROR_MESSAGES = {
    "video_generation_failed": "The provider could not make this video. Nothing was charged.",
    "timeout": "The video was not ready in time. Nothing was charged.",
    "upstream_lost": "The provider lost track of this job. Nothing was charged.",
    "download_failed": "The finished video could not be fetched. Nothing was charged.",
}


def _route(job: VideoJob) -> RouteInfo | None:
    route = Route.objects.select_related("provider").filter(pk=job.route_id).first()
    return selectors.route_info(route) if route is not None else None


def _usage_row(
    job: VideoJob, *, status: str, charged: int, wholesale: int = 0
) -> tuple[str, dict[str, object]]:
    now = timezone.now()
    return usage_rows.insert_statement(
        usage_rows.row(
            request_id=job.request_id, user_id=job.user_id, api_key_id=job.api_key_id,
            endpoint="videos", model_slug=job.model_slug, provider_slug=job.provider_slug,
            status=status, http_status=200 if status == UsageRecord.Status.OK else 502,
            stream=False, input_tokens=0, cached_input_tokens=0, output_tokens=0,
            units=job.seconds if charged else 0, estimated=False,
            held_micros=job.held_micros, charged_micros=charged, wholesale_micros=wholesale,
            failovers=0,
            latency_ms=int((now - job.created_at).total_seconds() * 1000), ttfb_ms=None,
            created_at=now,
        )
    )  # fmt: skip


def _hold(job: VideoJob) -> Hold:
    return Hold.objects.get(request_id=job.request_id)


def _release(job: VideoJob, *, usage_status: str) -> None:
    """Give the whole hold back and record the job's usage row at 0 (idempotent)."""
    try:
        ledger.release(_hold(job))
    except ledger.HoldNotOpen:
        pass  # settled meanwhile by another worker: that outcome stands
    sql, params = usage_rows.standalone(_usage_row(job, status=usage_status, charged=0))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def fail(job: VideoJob, code: str) -> None:
    _release(job, usage_status=UsageRecord.Status.UPSTREAM_ERROR)
    ended = VideoJob.objects.filter(pk=job.pk, status__in=IN_FLIGHT).update(
        status=VideoJob.Status.FAILED, error_code=code, completed_at=timezone.now()
    )
    logger.info("video job failed", extra={"job": job.pk, "code": code})
    if ended and job.callback_url:
        _announce(job.pk)


def _announce(job_id: str) -> None:
    """Queue the job's webhook (gateway/webhooks.py), once per ending."""
    from gateway.tasks import deliver_video_webhook

    try:
        deliver_video_webhook.delay(job_id)
    except Exception:  # the broker is down: say so; the job itself is done
        logger.warning("could not queue a webhook", extra={"job": job_id})


def _later(job: VideoJob, **changes: Any) -> None:
    delay = BACKOFF_S[min(job.polls, len(BACKOFF_S) - 1)]
    VideoJob.objects.filter(pk=job.pk, status__in=IN_FLIGHT).update(
        polls=job.polls + 1, next_poll_at=timezone.now() + timedelta(seconds=delay), **changes
    )


def _timeouts(route: RouteInfo) -> tuple[float, float]:
    return route.connect_timeout_ms / 1000, min(route.read_timeout_ms / 1000, 60.0)


def _download(route: RouteInfo, adapter: Any, job: VideoJob, url: str | None) -> bytes | None:
    import requests  # here, not at the top: only Celery workers poll (5.5 MiB a web worker spares)

    request = adapter.video_content_request(route, job.upstream_id, url)
    try:
        with requests.get(request.url, headers=request.headers, timeout=_timeouts(route),
                          stream=True) as response:  # fmt: skip
            if response.status_code != 200:
                return None
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=1 << 16):
                size += len(chunk)
                if size > MAX_VIDEO_BYTES:
                    return None
                chunks.append(chunk)
            return b"".join(chunks) or None
    except requests.RequestException:
        return None


def advance(job_id: str) -> str | None:
    """One step of a job, if it is due and this worker wins the claim; returns its status."""
    import requests  # see _download

    now = timezone.now()
    claimed = VideoJob.objects.filter(
        pk=job_id, status__in=IN_FLIGHT, next_poll_at__lte=now
    ).update(next_poll_at=now + timedelta(seconds=lease_s()))
    if not claimed:
        return None
    job = VideoJob.objects.get(pk=job_id)
    if now >= job.deadline_at:
        fail(job, "timeout")
        return VideoJob.Status.FAILED
    route = _route(job)
    adapter = adapter_for(route.provider_kind) if route else None
    if route is None or adapter is None:
        fail(job, "upstream_lost")
        return VideoJob.Status.FAILED
    poll = adapter.video_poll_request(route, job.upstream_id)
    try:
        response = requests.get(poll.url, headers=poll.headers, timeout=_timeouts(route))
    except requests.RequestException:
        _later(job)
        return job.status
    if response.status_code in {404, 410}:
        fail(job, "upstream_lost")
        return VideoJob.Status.FAILED
    if response.status_code != 200:
        _later(job)  # 429, 5xx, ...: the deadline bounds how long we keep asking
        return job.status
    try:
        poll = adapter.video_poll_result(route, response.json())
    except (ValueError, UpstreamProtocolError):
        _later(job)
        return job.status
    if poll.status == "failed":
        fail(job, "video_generation_failed")
        return VideoJob.Status.FAILED
    if poll.status != "completed":
        _later(job, status=poll.status, progress=max(job.progress, min(poll.progress, 99)))
        return poll.status
    return _complete(job, route, adapter, poll.content_url)


def _complete(job: VideoJob, route: RouteInfo, adapter: Any, url: str | None) -> str:
    asset = Asset.objects.filter(request_id=job.request_id, kind=Asset.Kind.VIDEO).first()
    if asset is None:
        data = _download(route, adapter, job, url)
        if data is None:
            _later(job, progress=99)
            return job.status
        asset = assets.store(user_id=job.user_id, request_id=job.request_id, data=data,
                             kind=Asset.Kind.VIDEO, content_type="video/mp4")  # fmt: skip
    charged = job.held_micros  # the whole job was delivered: its price, as held
    try:
        hold = _hold(job)
        wholesale = ledger.wholesale_of(hold)  # a white-label job: the reseller pays its hold
        record = _usage_row(job, status=UsageRecord.Status.OK, charged=charged,
                            wholesale=wholesale.amount_micros if wholesale else 0)  # fmt: skip
        ledger.settle(hold, charged_micros=charged, also=[record])
    except ledger.HoldNotOpen:
        charged = 0  # the reconciler gave the hold back (the job outlived it): free
    ended = VideoJob.objects.filter(pk=job.pk, status__in=IN_FLIGHT).update(
        status=VideoJob.Status.COMPLETED, progress=100, asset=asset,
        completed_at=timezone.now(), charged_micros=charged,
    )  # fmt: skip
    logger.info("video job completed", extra={"job": job.pk, "charged_micros": charged})
    if ended and job.callback_url:
        _announce(job.pk)
    return VideoJob.Status.COMPLETED


def advance_due(*, limit: int = 200) -> int:
    """Advance every job whose poll is due (the periodic task); returns how many."""
    due = list(
        VideoJob.objects.filter(status__in=IN_FLIGHT, next_poll_at__lte=timezone.now())
        .order_by("next_poll_at")
        .values_list("pk", flat=True)[:limit]
    )
    for job_id in due:
        try:
            advance(job_id)
        except Exception:
            logger.exception("advancing a video job failed", extra={"job": job_id})
    return len(due)


def delete(job: VideoJob) -> None:
    """The owner deletes a job: an unfinished one is cancelled and refunded; a finished one's
    file is deleted. The row stays (status deleted) for the books."""
    if job.status in IN_FLIGHT:
        _release(job, usage_status=UsageRecord.Status.ABORTED)
    if job.asset_id:
        assets.delete(job.asset)
    VideoJob.objects.filter(pk=job.pk).update(status=VideoJob.Status.DELETED)


# --- what the /v1/videos handlers ask (sync; the caller's key decides what is visible) ---


def owned(owner_id: int, video_id: str) -> VideoJob:
    """The caller's job, or a 404 that says nothing about anybody else's."""
    job = (
        VideoJob.objects.select_related("asset")
        .filter(pk=video_id[:40], user_id=owner_id)
        .exclude(status=VideoJob.Status.DELETED)
        .first()
    )
    if job is None:
        raise ApiError(404, f"No video found with id '{video_id[:60]}'.", param="video_id",
                       code="video_not_found")  # fmt: skip
    return job


def listing(owner_id: int, *, limit: str | None, after: str | None) -> dict[str, Any]:
    try:
        count = int(limit or 20)
    except ValueError:
        count = 0
    if not 1 <= count <= 100:
        raise ApiError(400, "'limit' must be from 1 to 100.", param="limit")
    jobs = (
        VideoJob.objects.select_related("asset")
        .filter(user_id=owner_id)
        .exclude(status=VideoJob.Status.DELETED)
        .order_by("-created_at", "-id")
    )
    if after:
        anchor = jobs.filter(pk=after[:40]).first()
        if anchor is None:
            raise ApiError(400, f"'after' is not one of your videos: '{after[:60]}'.",
                           param="after")  # fmt: skip
        jobs = jobs.filter(created_at__lte=anchor.created_at).exclude(
            created_at=anchor.created_at, id__gte=anchor.id
        )
    page = list(jobs[: count + 1])
    data = [serialize(job) for job in page[:count]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(page) > count,
    }


def content_path(owner_id: int, video_id: str) -> str:
    """Where the finished file is: a signed link to our stored copy."""
    job = owned(owner_id, video_id)
    if job.status != VideoJob.Status.COMPLETED or job.asset is None:
        raise ApiError(400, f"The video '{job.id}' is not ready: it is {job.status}.",
                       code="video_not_ready")  # fmt: skip
    if job.asset.deleted_at is not None or job.asset.expires_at <= timezone.now():
        raise ApiError(410, f"The file of '{job.id}' was deleted: videos are kept "
                       f"{settings.ASSET_RETENTION_DAYS} days.", code="video_expired")  # fmt: skip
    return assets.signed_path(job.asset)


def delete_owned(owner_id: int, video_id: str) -> dict[str, Any]:
    job = owned(owner_id, video_id)
    delete(job)
    return {"id": job.id, "object": "video.deleted", "deleted": True}


def deliver_webhook(job_id: str) -> bool:
    """Send a finished job's event to its callback_url; True once delivered (or nothing to
    send). Called by the Celery task, which retries on False."""
    from accounts.services import webhook_secret
    from gateway import webhooks

    job = VideoJob.objects.select_related("user").filter(pk=job_id).first()
    if job is None or not job.callback_url or job.webhook_state == "delivered":
        return True
    kind = "video.completed" if job.status == VideoJob.Status.COMPLETED else "video.failed"
    try:
        delivered = webhooks.send(job.callback_url, webhook_secret(job.user), kind, job.pk)
    except webhooks.Unsafe:
        VideoJob.objects.filter(pk=job.pk).update(webhook_state="failed")
        return True  # no retry can make this address acceptable
    VideoJob.objects.filter(pk=job.pk).update(
        webhook_attempts=job.webhook_attempts + 1,
        webhook_state="delivered" if delivered else "pending",
    )
    return delivered


def webhook_gave_up(job_id: str) -> None:
    VideoJob.objects.filter(pk=job_id, webhook_state="pending").update(webhook_state="failed")
