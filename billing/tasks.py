"""Periodic money housekeeping (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from billing import alerts, ledger


@shared_task(name="billing.release_expired_holds", ignore_result=True)
def release_expired_holds() -> int:
    return ledger.release_expired()


@shared_task(name="billing.send_low_balance_alerts", ignore_result=True)
def send_low_balance_alerts() -> int:
    return alerts.send_low_balance_alerts()
