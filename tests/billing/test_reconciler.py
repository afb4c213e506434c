"""Holds left open by a crashed or hung request are released by the reconciler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import ledger
from billing.models import Hold
from billing.tasks import release_expired_holds
from tests.conftest import CREDIT, funded

pytestmark = pytest.mark.django_db


def test_expired_open_holds_are_released_and_nothing_else_is_touched(alice):
    account = funded(alice, 10)
    stale = ledger.reserve(account, amount_micros=2 * CREDIT, request_id="stale", ttl_s=1)
    ledger.reserve(account, amount_micros=CREDIT, request_id="fresh")
    done = ledger.reserve(account, amount_micros=CREDIT, request_id="done", ttl_s=1)
    ledger.settle(done, charged_micros=CREDIT // 2)
    later = timezone.now() + timedelta(seconds=5)
    assert ledger.release_expired(now=later) == 1
    assert ledger.release_expired(now=later) == 0  # a second run changes nothing
    states = dict(Hold.objects.values_list("request_id", "state"))
    assert states == {"stale": "released", "fresh": "open", "done": "settled"}
    account.refresh_from_db()
    assert account.balance_micros == 10 * CREDIT - CREDIT - CREDIT // 2
    assert ledger.entries_total(account) == account.balance_micros
    with pytest.raises(ledger.HoldNotOpen):
        ledger.settle(stale, charged_micros=1)


def test_the_periodic_task_runs_the_reconciler(alice, settings):
    account = funded(alice, 3)
    hold = ledger.reserve(account, amount_micros=CREDIT, request_id="t1", ttl_s=1)
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert release_expired_holds.delay().get() == 1
    account.refresh_from_db()
    assert account.balance_micros == 3 * CREDIT
    assert "release-expired-holds" in settings.CELERY_BEAT_SCHEDULE
