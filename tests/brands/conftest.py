"""The cast for white-label tests: Rita resells as the brand "Acme AI" (acme.test, 25 %
markup) and pays the operator's price from her own credits; Carol is Acme's customer."""

from __future__ import annotations

import pytest

from accounts.models import User
from billing import ledger
from brands.models import Brand
from catalog import selectors
from tests.conftest import CREDIT

ACME_HOST = "acme.test"


def make_brand(owner: User, **fields: object) -> Brand:
    values = {
        "slug": "acme", "name": "Acme AI", "domain": ACME_HOST, "owner": owner,
        "support_email": "help@acme.test", "markup_bp": 2500, "primary_color": "#aa3300",
    }  # fmt: skip
    values.update(fields)
    brand = Brand.objects.create(**values)
    selectors.invalidate()
    return brand


def fund(user: User, credits: int, key: str) -> None:
    ledger.grant(ledger.account_for(user), amount_micros=credits * CREDIT, idempotency_key=key)


@pytest.fixture
def rita(db) -> User:
    user = User.objects.create_user("rita@example.com", "rita-password-1")
    fund(user, 50, "fund-rita")
    return user


@pytest.fixture
def acme(rita, settings) -> Brand:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ACME_HOST, ".test"]
    return make_brand(rita)


@pytest.fixture
def carol(acme) -> User:
    user = User.objects.create_user("carol@example.com", "carol-password-1", brand=acme)
    fund(user, 10, "fund-carol")
    return user


@pytest.fixture
def other_brand(db) -> Brand:
    mallory = User.objects.create_user("mallory@example.com", "mallory-password-1")
    fund(mallory, 5, "fund-mallory")
    return make_brand(mallory, slug="globex", name="Globex", domain="globex.test",
                      support_email="help@globex.test")  # fmt: skip


@pytest.fixture
def frank(other_brand) -> User:
    user = User.objects.create_user("frank@example.com", "frank-password-1", brand=other_brand)
    fund(user, 7, "fund-frank")
    return user
