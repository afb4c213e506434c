"""Periodic catalog work (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from catalog import announcements


@shared_task(name="catalog.announce_price_changes", ignore_result=True)
def announce_price_changes() -> int:
    return announcements.announce_price_changes()
