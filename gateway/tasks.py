"""Periodic gateway housekeeping (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from gateway import assets


@shared_task(name="gateway.delete_expired_assets", ignore_result=True)
def delete_expired_assets() -> int:
    return assets.delete_expired()
