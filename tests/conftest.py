"""Shared fixtures. The cast: Alice and Bob are customers who must never see each other's
keys or credits; Staff is a superuser who curates the catalog and adjusts balances."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from billing import ledger
from billing.models import CreditAccount

CREDIT = 1_000_000  # micro-credits


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker) -> None:
    """The test database is reused between runs (tests/settings.py). A run stopped inside a
    transactional test (a killed CI job) leaves that test's rows behind, and the next run
    started on them: duplicate emails, balances that were not its own. Empty it once before
    this session's first test; no migration adds rows, so nothing else is lost."""
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


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


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium(monkeypatch):
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser). Skipped
    where it is not installed, except in CI, where that fails."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium: apt-get install -y chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls a test makes
    # between steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        browser.close()


def login_cookie(user, url: str) -> dict:
    """A session cookie for `user`, for a browser context on `url`."""
    from django.test import Client

    session = Client()
    session.force_login(user)
    return {"name": "sessionid", "value": session.cookies["sessionid"].value, "url": url}
