"""Stripe billing end to end, without the internet: the Billing page sends the user to
Checkout (the stand-in, tests/stripe_standin.py), the stand-in plays the payment, and its
events are posted, signed, to dj-stripe's real webhook endpoint. Credits come from those
webhooks only, once per paid Stripe object, whatever is replayed, duplicated or reordered."""

from __future__ import annotations

from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from djstripe.models import Event

from billing.models import CreditPack, LedgerEntry, PaymentIssue, Plan
from tests.billing.conftest import SECRET
from tests.conftest import CREDIT
from tests.stripe_standin import block_network, signed


def test_the_offers_are_put_on_sale_in_stripe_and_a_new_amount_makes_a_new_price(world):
    pack = CreditPack.objects.get(slug="pack-5")
    price = world.standin.get(pack.stripe_price_id)
    assert (price["unit_amount"], price["currency"], price["lookup_key"]) == (
        500, "usd", "reapi-creditpack-pack-5",
    )  # fmt: skip
    plan = Plan.objects.get(slug="pro")
    assert world.standin.get(plan.stripe_price_id)["recurring"]["interval"] == "month"
    old_price = pack.stripe_price_id
    CreditPack.objects.filter(pk=pack.pk).update(price_cents=600)
    call_command("sync_stripe_products", stdout=open("/dev/null", "w"))
    pack.refresh_from_db()
    assert pack.stripe_price_id != old_price
    assert world.standin.get(old_price)["active"] is False
    assert world.standin.get(pack.stripe_price_id)["lookup_key"] == "reapi-creditpack-pack-5"


def test_a_pack_is_credited_once_from_its_webhook_whatever_is_repeated(world):
    before = world.balance()
    session = world.checkout("billing:buy-pack", "pack-5")
    assert (session["mode"], session["metadata"]["reapi_credits_micros"]) == (
        "payment", str(5_000 * CREDIT),
    )  # fmt: skip
    assert world.balance() == before  # the redirect back grants nothing
    assert world.browser.get(reverse("billing:page") + "?checkout=success").status_code == 200
    assert world.balance() == before
    paid = world.standin.complete_checkout(session["id"], paid=True)
    event = world.send("checkout.session.completed", paid)
    assert world.balance() == before + 5_000 * CREDIT
    assert world.post(event) == 200  # the same event again
    world.send("checkout.session.completed", paid)  # the same payment, another event id
    world.send("checkout.session.async_payment_succeeded", paid)
    assert world.balance() == before + 5_000 * CREDIT
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.PURCHASE)
    assert entry.reference == paid["payment_intent"]
    world.assert_books_closed()


def test_an_unpaid_checkout_grants_nothing_until_its_payment_succeeds(world):
    before = world.balance()
    session = world.checkout("billing:buy-pack", "pack-5")
    pending = world.standin.complete_checkout(session["id"], paid=False)
    world.send("checkout.session.completed", pending)
    assert world.balance() == before
    paid = world.standin.settle_async_payment(session["id"])
    world.send("checkout.session.async_payment_succeeded", paid)
    assert world.balance() == before + 5_000 * CREDIT
    world.assert_books_closed()


def test_a_forged_or_stale_signature_is_rejected_and_changes_nothing(world):
    session = world.checkout("billing:buy-pack", "pack-5")
    paid = world.standin.complete_checkout(session["id"], paid=True)
    event = world.standin.event("checkout.session.completed", paid)
    before = world.balance()
    assert world.post(event, secret="whsec_someone_else") == 400
    body, header = signed(event, SECRET, timestamp=world.standin.now() - 3600)
    stale = world.stripe.post(
        reverse("djstripe:djstripe_webhook_by_uuid", args=[world.endpoint.djstripe_uuid]),
        data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header,
    )  # fmt: skip
    assert stale.status_code == 400
    assert world.balance() == before and not Event.objects.filter(id=event["id"]).exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PURCHASE).exists()


def test_a_subscription_grants_each_paid_period_once_even_out_of_order(world):
    before = world.balance()
    session = world.checkout("billing:buy-plan", "starter")
    started = world.standin.complete_checkout(session["id"], paid=True)
    subscription_id = started["subscription"]
    first_invoice = world.standin.get(started["invoice"])
    # Reordered: the invoice's event arrives before the session's.
    world.send("invoice.paid", first_invoice)
    world.send("checkout.session.completed", started)  # a subscription: grants nothing itself
    world.send("invoice.paid", first_invoice)
    assert world.balance() == before + 10_000 * CREDIT
    renewal = world.standin.renew(subscription_id, paid=True)
    event = world.send("invoice.paid", renewal)
    assert world.post(event) == 200
    assert world.balance() == before + 20_000 * CREDIT
    page = world.browser.get(reverse("billing:page")).content.decode()
    assert "Starter" in page and "renews on" in page
    world.assert_books_closed()


def test_a_failed_renewal_grants_nothing_and_flags_the_account(world):
    session = world.checkout("billing:buy-plan", "starter")
    started = world.standin.complete_checkout(session["id"], paid=True)
    world.send("invoice.paid", world.standin.get(started["invoice"]))
    after_first = world.balance()
    unpaid = world.standin.renew(started["subscription"], paid=False)
    world.send("invoice.payment_failed", unpaid)
    world.send("invoice.payment_failed", unpaid)
    assert world.balance() == after_first
    issue = PaymentIssue.objects.get()
    assert (issue.kind, issue.user, issue.resolved_at) == ("payment_failed", world.user, None)
    assert "could not be charged" in world.browser.get(reverse("billing:page")).content.decode()
    world.assert_books_closed()


def test_a_refunded_pack_takes_its_credits_back_as_far_as_the_balance_allows(world):
    session = world.checkout("billing:buy-pack", "pack-5")
    paid = world.standin.complete_checkout(session["id"], paid=True)
    world.send("checkout.session.completed", paid)
    before = world.balance()
    charge = world.standin.refund(paid["payment_intent"], amount=250)  # half
    refunded = world.standin.get(charge["charge"]) if charge["object"] == "refund" else charge
    world.send("charge.refunded", refunded)
    world.send("charge.refunded", refunded)
    assert world.balance() == before - 2_500 * CREDIT
    issue = PaymentIssue.objects.get(kind="refund")
    assert (issue.amount_cents, issue.credits_removed_micros) == (250, 2_500 * CREDIT)
    world.assert_books_closed()


def test_a_refunded_subscription_period_takes_its_credits_back(world):
    started = world.subscribe()
    before = world.balance()
    invoice = world.standin.get(started["invoice"])
    refund = world.standin.refund(invoice["payment_intent"] or started["payment_intent"])
    charge = world.standin.get(refund["charge"])
    world.send("charge.refunded", charge)
    assert world.balance() == before - 10_000 * CREDIT
    issue = PaymentIssue.objects.get(kind="refund")
    assert issue.credits_removed_micros == 10_000 * CREDIT
    world.assert_books_closed()


def test_without_stripe_the_page_works_and_says_payments_are_off(alice, settings):
    settings.STRIPE_TEST_SECRET_KEY = ""
    CreditPack.objects.create(slug="pack-5", name="5 dollars", price_cents=500,
                              credits_micros=5_000 * CREDIT, stripe_price_id="price_x")  # fmt: skip
    browser = Client()
    browser.force_login(alice)
    page = browser.get(reverse("billing:page"))
    assert page.status_code == 200 and "5 dollars" in page.content.decode()
    with block_network():
        answer = browser.post(reverse("billing:buy-pack", args=["pack-5"]), follow=True)
    assert "Payments are not configured" in answer.content.decode()
    assert browser.post(reverse("billing:buy-pack", args=["nope"])).status_code == 404
    assert Client().get(reverse("billing:page")).status_code == 302  # to the login page


def test_an_upgrade_grants_the_difference_and_a_downgrade_grants_nothing(world):
    before = world.balance()
    started = world.subscribe("starter")
    assert world.balance() == before + 10_000 * CREDIT
    answer = world.browser.post(reverse("billing:change", args=["pro"]), follow=True)
    assert "You are now on Pro" in answer.content.decode()
    upgrade = next(i for i in world.standin.objects("invoice")
                   if i["billing_reason"] == "subscription_update")  # fmt: skip
    event = world.send("invoice.paid", upgrade)
    assert world.post(event) == 200
    # The stand-in invoices a whole period: the whole difference (40,000 - 10,000).
    assert world.balance() == before + 40_000 * CREDIT
    world.user.refresh_from_db()
    assert world.user.plan.slug == "pro"
    world.send("customer.subscription.updated", world.standin.get(started["subscription"]))
    answer = world.browser.post(reverse("billing:change", args=["starter"]), follow=True)
    assert "You are now on Starter" in answer.content.decode()
    updates = [i for i in world.standin.objects("invoice")
               if i["billing_reason"] == "subscription_update"]  # fmt: skip
    assert len(updates) == 1  # a downgrade is not invoiced now
    assert world.balance() == before + 40_000 * CREDIT
    world.assert_books_closed()


def test_a_plans_limits_apply_to_its_subscribers_keys_until_it_ends(world):
    from accounts import keys

    Plan.objects.filter(slug="starter").update(rpm_limit=7, tpm_limit=7_000)
    _, raw = keys.create(world.user, name="app")
    assert keys.authenticate(raw).limits.account_rpm != 7
    started = world.subscribe("starter")
    limits = keys.authenticate(raw).limits
    assert (limits.account_rpm, limits.account_tpm) == (7, 7_000)
    world.browser.post(reverse("billing:cancel"))
    assert world.standin.get(started["subscription"])["cancel_at_period_end"] is True
    assert keys.authenticate(raw).limits.account_rpm == 7  # paid until the period ends
    ended = world.standin.end_period(started["subscription"])
    world.send("customer.subscription.deleted", ended)
    assert keys.authenticate(raw).limits.account_rpm != 7
    assert world.balance() > 0  # credits stay
    world.assert_books_closed()


def test_cancel_and_resume_change_the_subscription_in_stripe_and_on_the_page(world):
    started = world.subscribe("starter")
    page = world.browser.post(reverse("billing:cancel"), follow=True).content.decode()
    assert "ends on" in page and "Resume my plan" in page
    assert world.standin.get(started["subscription"])["cancel_at_period_end"] is True
    page = world.browser.post(reverse("billing:resume"), follow=True).content.decode()
    assert "renews on" in page and "Cancel at the end of the period" in page
    assert world.standin.get(started["subscription"])["cancel_at_period_end"] is False


def test_a_dispute_flags_the_account_and_a_lost_one_takes_the_credits_back(world):
    session = world.checkout("billing:buy-pack", "pack-5")
    paid = world.standin.complete_checkout(session["id"], paid=True)
    world.send("checkout.session.completed", paid)
    before = world.balance()
    opened = world.standin.dispute(paid["payment_intent"])
    world.send("charge.dispute.created", opened)
    assert world.balance() == before  # flagged only
    assert "is disputed" in world.browser.get(reverse("billing:page")).content.decode()
    lost = world.standin.dispute(paid["payment_intent"], status="lost")
    event = world.send("charge.dispute.closed", lost)
    assert world.post(event) == 200
    world.send("charge.dispute.closed", lost)
    assert world.balance() == before - 5_000 * CREDIT
    issue = PaymentIssue.objects.get(kind="dispute")
    assert issue.resolved_at is not None and issue.credits_removed_micros == 5_000 * CREDIT
    world.assert_books_closed()


def test_a_won_dispute_lifts_the_flag_and_keeps_the_credits(world):
    session = world.checkout("billing:buy-pack", "pack-5")
    paid = world.standin.complete_checkout(session["id"], paid=True)
    world.send("checkout.session.completed", paid)
    before = world.balance()
    world.send("charge.dispute.created", world.standin.dispute(paid["payment_intent"]))
    world.send("charge.dispute.closed", world.standin.dispute(paid["payment_intent"], status="won"))
    assert world.balance() == before
    assert PaymentIssue.objects.get(kind="dispute").resolved_at is not None
    assert "is disputed" not in world.browser.get(reverse("billing:page")).content.decode()


def test_the_portal_button_opens_stripes_customer_portal(world):
    answer = world.browser.post(reverse("billing:portal"))
    assert answer.status_code == 302 and answer["Location"].startswith(
        world.standin.url + "/portal/"
    )
    portal = world.standin.calls("POST", "/v1/billing_portal/sessions")[0].params
    assert portal["return_url"].endswith(reverse("billing:page"))


def test_another_customer_sees_and_changes_nothing_of_the_first(world, bob):
    started = world.subscribe("starter")
    other = Client()
    other.force_login(bob)
    page = other.get(reverse("billing:page")).content.decode()
    assert "No invoices yet" in page and "You are on" not in page
    invoice_number = world.standin.get(started["invoice"])["number"]
    assert invoice_number not in page
    answer = other.post(reverse("billing:cancel"), follow=True).content.decode()
    assert "You have no plan to change" in answer
    other.post(reverse("billing:change", args=["pro"]))
    assert world.standin.get(started["subscription"])["cancel_at_period_end"] is False
    assert world.standin.get(started["subscription"])["items"]["data"][0]["price"]["id"] == (
        Plan.objects.get(slug="starter").stripe_price_id
    )
