"""A brand's own Stripe account: Carol buys Acme's pack on Acme's site; Stripe (the stand-in,
tests/stripe_standin.py) reports it paid to Acme's webhook endpoint, signed with Acme's
secret; the credits arrive once, and only for Acme's own customers. A refund or a lost
dispute there takes them back, again only from Acme's customers."""

from __future__ import annotations

import pytest
import stripe
from django.test import Client
from django.urls import reverse

from billing import ledger
from billing.models import CreditPack, LedgerEntry, PaymentIssue
from brands.models import BrandPack
from tests.brands.conftest import ACME_HOST
from tests.conftest import CREDIT
from tests.stripe_standin import API_KEY, signed, start_standin

ACME_SECRET = "whsec_acme_own_account"
OPERATOR_SECRET = "whsec_test_reapi_billing"


@pytest.fixture(scope="module")
def standin():
    server = start_standin()
    yield server
    server.stop()


@pytest.fixture
def shop(acme, carol, standin):
    """Acme sells a pack through its own Stripe account (the stand-in)."""
    saved = stripe.api_base, stripe.max_network_retries
    stripe.api_base, stripe.max_network_retries = standin.url, 0
    acme.stripe_secret_key, acme.stripe_webhook_secret = API_KEY, ACME_SECRET
    acme.save()
    pack = BrandPack.objects.create(brand=acme, name="Acme 8k", price_cents=1000,
                                    credits_micros=8_000 * CREDIT)  # fmt: skip
    browser = Client(HTTP_HOST=ACME_HOST)
    browser.force_login(carol)
    yield pack, browser
    stripe.api_base, stripe.max_network_retries = saved


def pay(standin, browser, pack) -> dict:
    """Carol presses Buy, pays on the (stand-in's) Checkout page: the paid event, unsent."""
    answer = browser.post(reverse("brands:buy-pack", args=[pack.pk]))
    assert answer.status_code == 302 and answer["Location"].startswith(standin.url)
    session_id = answer["Location"].rstrip("/").rsplit("/", 1)[-1]
    session = standin.complete_checkout(session_id, paid=True)
    return standin.event("checkout.session.completed", session)


def deliver(event: dict, secret: str, slug: str = "acme") -> int:
    body, header = signed(event, secret)
    return Client().post(
        reverse("brands:stripe-webhook", args=[slug]), data=body,
        content_type="application/json", HTTP_STRIPE_SIGNATURE=header,
    ).status_code  # fmt: skip


def test_a_brands_customer_buys_its_pack_and_the_credits_arrive_once(standin, shop, carol):
    pack, browser = shop
    page = browser.get(reverse("billing:page")).content.decode()
    assert "Acme 8k" in page and reverse("brands:buy-pack", args=[pack.pk]) in page
    event = pay(standin, browser, pack)
    session = event["data"]["object"]
    assert (session["amount_total"], session["customer_email"]) == (1000, "carol@example.com")
    before = ledger.account_for(carol).balance_micros
    assert deliver(event, ACME_SECRET) == 200
    assert deliver(event, ACME_SECRET) == 200  # Stripe retries: granted once
    assert ledger.account_for(carol).balance_micros == before + 8_000 * CREDIT
    entry = LedgerEntry.objects.get(account__user=carol, kind="purchase")
    assert entry.idempotency_key == f"stripe:acme:checkout:{session['id']}"
    assert entry.memo == "Credit pack: Acme 8k"


def test_only_the_brands_signature_and_customers_count(standin, shop, carol, alice, other_brand):
    pack, browser = shop
    event = pay(standin, browser, pack)
    before = ledger.account_for(carol).balance_micros
    assert deliver(event, OPERATOR_SECRET) == 400  # our secret is not Acme's
    assert deliver(event, "whsec_forged") == 400
    other_brand.stripe_secret_key, other_brand.stripe_webhook_secret = API_KEY, "whsec_globex"
    other_brand.save()
    assert deliver(event, ACME_SECRET, slug="globex") == 400  # Globex's endpoint, Acme's secret
    assert deliver(event, "whsec_globex", slug="globex") == 200  # Globex's: not its customer
    # Acme's account reporting a purchase for one of our customers credits nobody.
    event["data"]["object"]["metadata"]["reapi_user"] = str(alice.pk)
    assert deliver(event, ACME_SECRET) == 200
    assert ledger.account_for(carol).balance_micros == before
    assert not LedgerEntry.objects.filter(kind="purchase").exists()


def test_a_customer_buys_only_its_own_brands_packs(standin, shop, other_brand, frank, alice):
    pack, browser = shop
    globex = BrandPack.objects.create(brand=other_brand, name="Globex", price_cents=500,
                                      credits_micros=CREDIT)  # fmt: skip
    assert browser.post(reverse("brands:buy-pack", args=[globex.pk])).status_code == 404
    ours = Client()
    ours.force_login(alice)
    assert ours.post(reverse("brands:buy-pack", args=[pack.pk])).status_code == 404
    # Our packs are not sold to Acme's customers, nor Acme's to ours.
    CreditPack.objects.create(slug="pack-5", name="5 dollars", price_cents=500,
                              credits_micros=5_000 * CREDIT, stripe_price_id="price_x")  # fmt: skip
    page = browser.get(reverse("billing:page")).content.decode()
    assert "5 dollars" not in page
    assert "Acme 8k" not in ours.get(reverse("billing:page")).content.decode()


def test_a_refund_in_the_brands_account_takes_the_credits_back_once(standin, shop, carol):
    pack, browser = shop
    paid = pay(standin, browser, pack)
    assert deliver(paid, ACME_SECRET) == 200
    granted = ledger.account_for(carol).balance_micros
    refund = standin.refund(paid["data"]["object"]["payment_intent"], amount=250)  # a quarter
    charge = standin.event("charge.refunded", standin.get(refund["charge"]))
    assert deliver(charge, ACME_SECRET) == 200
    assert deliver(charge, ACME_SECRET) == 200  # Stripe retries: taken once
    assert ledger.account_for(carol).balance_micros == granted - 2_000 * CREDIT
    issue = PaymentIssue.objects.get(kind="refund")
    assert (issue.user, issue.amount_cents, issue.credits_removed_micros) == (
        carol,
        250,
        2_000 * CREDIT,
    )
    assert issue.stripe_id == f"brand:acme:refund:{charge['data']['object']['id']}"
    assert "refunded" in browser.get(reverse("billing:page")).content.decode()
    account = ledger.account_for(carol)
    assert ledger.entries_total(account) == account.balance_micros


def test_a_lost_dispute_in_the_brands_account_takes_the_credits_back(standin, shop, carol):
    pack, browser = shop
    paid = pay(standin, browser, pack)
    assert deliver(paid, ACME_SECRET) == 200
    before = ledger.account_for(carol).balance_micros
    intent = paid["data"]["object"]["payment_intent"]
    assert deliver(standin.event("charge.dispute.created", standin.dispute(intent)),
                   ACME_SECRET) == 200  # fmt: skip
    assert "disputed" in browser.get(reverse("billing:page")).content.decode()
    lost = standin.event("charge.dispute.closed", standin.dispute(intent, status="lost"))
    assert deliver(lost, ACME_SECRET) == 200
    assert deliver(lost, ACME_SECRET) == 200
    assert ledger.account_for(carol).balance_micros == before - 8_000 * CREDIT
    assert PaymentIssue.objects.get(kind="dispute").resolved_at is not None


def test_a_brands_refund_cannot_reach_another_sites_purchase(standin, shop, carol, alice):
    """A reseller signs its own webhooks, so it could name any payment: only its own
    customers' purchases are found. Our customer Alice's pack, bought on our Stripe with the
    same payment intent id, stays hers."""
    pack, browser = shop
    paid = pay(standin, browser, pack)
    intent = paid["data"]["object"]["payment_intent"]
    ledger.grant(ledger.account_for(alice), amount_micros=5_000 * CREDIT,
                 idempotency_key="stripe:checkout:cs_ours", kind=LedgerEntry.Kind.PURCHASE,
                 reference=intent)  # fmt: skip
    refund = standin.refund(intent)
    assert deliver(standin.event("charge.refunded", standin.get(refund["charge"])),
                   ACME_SECRET) == 200  # fmt: skip
    assert deliver(standin.event("charge.dispute.closed", standin.dispute(intent, status="lost")),
                   ACME_SECRET) == 200  # fmt: skip
    assert ledger.account_for(alice).balance_micros == 5_000 * CREDIT
    assert not PaymentIssue.objects.exists()  # Carol's purchase was never granted here


def test_ids_a_reseller_makes_up_cannot_name_our_own_payment_issues(standin, shop, carol, alice):
    """A brand named "refund" disputing a charge it calls "ch_1" must not land on our own
    refund issue "refund:ch_1"."""
    pack, browser = shop
    paid = pay(standin, browser, pack)
    assert deliver(paid, ACME_SECRET) == 200
    ours = PaymentIssue.objects.create(user=alice, kind="refund", stripe_id="refund:ch_1",
                                       amount_cents=100)  # fmt: skip
    acme = carol.brand
    acme.slug = "refund"
    acme.save()
    dispute = standin.dispute(paid["data"]["object"]["payment_intent"], status="lost")
    dispute["id"] = "ch_1"
    closed = standin.event("charge.dispute.closed", dispute)
    assert deliver(closed, ACME_SECRET, slug="refund") == 200
    ours.refresh_from_db()
    assert ours.user == alice and ours.resolved_at is None and ours.credits_removed_micros == 0
    assert PaymentIssue.objects.get(user=carol).stripe_id == "brand:refund:ch_1"
