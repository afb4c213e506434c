"""Shared fixtures. The cast: Alice and Bob are customers who must never see each other's
keys or credits; Staff is a superuser who curates the catalog and adjusts balances."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from billing import ledger
from billing.models import CreditAccount

CREDIT = 1_000_000  # micro-credits


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Every test starts with an empty cache: with Redis (CI) it outlives the process, and
    allauth's rate limits (e.g. one confirmation email per address per 3 minutes) would
    otherwise carry over from an earlier run."""
    cache.clear()


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice@example.com", "alice-password-1")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob@example.com", "bob-password-1")


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("staff@example.com", "staff-password-1")


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def funded(user: User, credits: int) -> CreditAccount:
    account = ledger.account_for(user)
    ledger.grant(account, amount_micros=credits * CREDIT, idempotency_key=f"test-fund:{user.pk}")
    account.refresh_from_db()
    return account
