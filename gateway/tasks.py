"""Periodic gateway housekeeping (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from gateway import assets, idempotency, videos


@shared_task(name="gateway.delete_expired_assets", ignore_result=True)
def delete_expired_assets() -> int:
    return assets.delete_expired()


@shared_task(name="gateway.advance_video_jobs", ignore_result=True)
def advance_video_jobs() -> int:
    """Every due video job, every two seconds (beat): polls, downloads, settles, refunds."""
    return videos.advance_due()


@shared_task(name="gateway.advance_video_job", ignore_result=True)
def advance_video_job(job_id: str) -> str | None:
    """One job now (queued right after it is created, so the first poll need not wait)."""
    return videos.advance(job_id)


@shared_task(name="gateway.delete_expired_idempotency_keys", ignore_result=True)
def delete_expired_idempotency_keys() -> int:
    return idempotency.delete_expired()


WEBHOOK_RETRIES = 6  # after the first try: 2, 4, 8, 16, 32, 64 s apart


@shared_task(name="gateway.deliver_video_webhook", bind=True, ignore_result=True,
             max_retries=WEBHOOK_RETRIES)  # fmt: skip
def deliver_video_webhook(self, job_id: str) -> None:
    if videos.deliver_webhook(job_id):
        return
    if self.request.retries >= WEBHOOK_RETRIES:
        videos.webhook_gave_up(job_id)
        return
    raise self.retry(countdown=2 ** (self.request.retries + 1))
