"""The Stripe world for billing tests: the stand-in (tests/stripe_standin.py) as Stripe's API,
dj-stripe's real webhook endpoint, a logged-in customer, plans and a pack on sale."""

from __future__ import annotations

import uuid

import pytest
import stripe
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from djstripe.models import Account, APIKey, WebhookEndpoint

from billing import ledger
from billing.models import CreditPack, Plan
from tests.conftest import CREDIT
from tests.stripe_standin import API_KEY, block_network, signed, start_standin

SECRET = "whsec_test_reapi_billing"


def spend(account, amount: int, request_id: str) -> None:
    """A request that held and was charged `amount` (what the request path does)."""
    hold = ledger.reserve(account, amount_micros=amount, request_id=request_id)
    ledger.settle(hold, charged_micros=amount)


def stripe_on_sale(standin, settings) -> WebhookEndpoint:
    """Point the stripe library and dj-stripe at the stand-in, register the webhook endpoint
    and put two plans and a pack on sale (`sync_stripe_products`). The caller restores
    `stripe.api_base` and `stripe.max_network_retries`."""
    stripe.api_base, stripe.max_network_retries = standin.url, 0
    settings.STRIPE_TEST_SECRET_KEY = API_KEY
    settings.STRIPE_LIVE_MODE = False
    account = Account.objects.create(id=standin.account["id"], livemode=False)
    APIKey.objects.create(secret=API_KEY, type="secret", livemode=False,
                          djstripe_owner_account=account)  # fmt: skip
    endpoint = WebhookEndpoint.objects.create(
        id="we_" + uuid.uuid4().hex[:16], url="https://reapi.example/stripe/webhook/",
        secret=SECRET, livemode=False, djstripe_owner_account=account, api_version="",
        enabled_events=["*"],
    )  # fmt: skip
    Plan.objects.create(slug="starter", name="Starter", price_cents=900,
                        credits_micros=10_000 * CREDIT, sort_order=1)  # fmt: skip
    Plan.objects.create(slug="pro", name="Pro", price_cents=2900,
                        credits_micros=40_000 * CREDIT, sort_order=2)  # fmt: skip
    CreditPack.objects.create(slug="pack-5", name="5 dollars", price_cents=500,
                              credits_micros=5_000 * CREDIT)  # fmt: skip
    call_command("sync_stripe_products", stdout=open("/dev/null", "w"))
    return endpoint


@pytest.fixture(scope="module")
def standin():
    server = start_standin()
    yield server
    server.stop()


class World:
    """A user logged in to the Billing page, Stripe (the stand-in) and the webhook endpoint."""

    def __init__(self, standin, user, endpoint: WebhookEndpoint) -> None:
        self.standin, self.user, self.endpoint = standin, user, endpoint
        self.browser = Client()
        self.browser.force_login(user)
        self.stripe = Client()  # Stripe's side: no session, no CSRF token

    def balance(self) -> int:
        return ledger.account_for(self.user).balance_micros

    def assert_books_closed(self) -> None:
        account = ledger.account_for(self.user)
        assert ledger.entries_total(account) == account.balance_micros >= 0

    def checkout(self, url_name: str, slug: str) -> dict:
        """Press a buy button; the session the user was sent to."""
        answer = self.browser.post(reverse(url_name, args=[slug]))
        assert answer.status_code == 302, answer.content
        session_id = answer["Location"].rsplit("/", 1)[1]
        assert answer["Location"].startswith(self.standin.url + "/pay/")
        return self.standin.get(session_id)

    def post(self, event: dict, *, secret: str = SECRET) -> int:
        body, header = signed(event, secret)
        answer = self.stripe.post(
            reverse("djstripe:djstripe_webhook_by_uuid", args=[self.endpoint.djstripe_uuid]),
            data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header,
        )  # fmt: skip
        return answer.status_code

    def send(self, kind: str, obj: dict) -> dict:
        event = self.standin.event(kind, obj)
        assert self.post(event) == 200
        return event

    def subscribe(self, slug: str = "starter") -> dict:
        """Buy a plan and let its first invoice's events arrive; the completed session."""
        session = self.checkout("billing:buy-plan", slug)
        started = self.standin.complete_checkout(session["id"], paid=True)
        self.send("checkout.session.completed", started)
        self.send("invoice.paid", self.standin.get(started["invoice"]))
        return started


@pytest.fixture
def world(standin, settings, alice):
    saved = stripe.api_base, stripe.max_network_retries
    endpoint = stripe_on_sale(standin, settings)
    with block_network():
        yield World(standin, alice, endpoint)
    assert not standin.unhandled and not standin.errors
    stripe.api_base, stripe.max_network_retries = saved
