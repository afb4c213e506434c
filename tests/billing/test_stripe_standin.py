"""The Stripe stand-in (tests/stripe_standin.py): the stripe library and dj-stripe against it,
its scenario helpers and webhook signatures, with the network outside 127.0.0.1 blocked."""

from __future__ import annotations

import socket
import time

import pytest
import stripe

from tests.stripe_standin import (
    API_KEY,
    API_VERSION,
    NetworkBlocked,
    block_network,
    decode_form,
    sign,
    signed,
    start_standin,
)


@pytest.fixture(autouse=True)
def _no_network():
    with block_network():
        yield


@pytest.fixture
def standin():
    saved = stripe.api_base, stripe.api_key, stripe.max_network_retries
    server = start_standin()
    stripe.api_base, stripe.api_key, stripe.max_network_retries = server.url, "sk_test_standin", 0
    try:
        yield server
    finally:
        stripe.api_base, stripe.api_key, stripe.max_network_retries = saved
        server.stop()


@pytest.fixture
def djstripe_standin(standin, settings, db):
    """dj-stripe pointed at the stand-in (it honours the global stripe.api_base)."""
    settings.STRIPE_TEST_SECRET_KEY = API_KEY
    settings.STRIPE_LIVE_MODE = False
    stripe.api_key = API_KEY
    return standin


def _plan(standin, *, interval="month", amount=900, lookup_key=None):
    product = stripe.Product.create(name=f"Plan {interval}")
    return stripe.Price.create(
        product=product.id,
        unit_amount=amount,
        currency="usd",
        recurring={"interval": interval},
        lookup_key=lookup_key,
    )


def _pack(standin, amount=500):
    product = stripe.Product.create(name="Credit pack")
    return stripe.Price.create(product=product.id, unit_amount=amount, currency="usd")


def _subscribed(standin, price, *, metadata=None):
    customer = stripe.Customer.create(email="sub@example.com")
    session = stripe.checkout.Session.create(
        mode="subscription",
        customer=customer.id,
        line_items=[{"price": price.id, "quantity": 1}],
        success_url="https://app.example/ok",
        subscription_data={"metadata": metadata or {"reapi_user": "7"}},
    )
    return standin.complete_checkout(session.id)


# --- Plumbing ---------------------------------------------------------------------------------
def test_network_outside_loopback_is_blocked(standin):
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("api.stripe.com", 443), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.socket().connect(("93.184.216.34", 443))
    stripe.api_base = "https://api.stripe.com"
    with pytest.raises(stripe.APIConnectionError, match="test tried to resolve api.stripe.com"):
        stripe.Customer.retrieve("cus_x")


def test_decode_form_nests_like_stripe_encodes():
    assert decode_form(
        "metadata[a]=1&metadata[0]=z&line_items[0][price]=p&line_items[0][quantity]=1"
        "&line_items[1][price_data][recurring][interval]=month&expand[]=x&expand[]=y"
        "&items[1][id]=b&items[0][id]=a&flag=true&empty="
    ) == {
        "metadata": {"a": "1", "0": "z"},
        "line_items": [
            {"price": "p", "quantity": "1"},
            {"price_data": {"recurring": {"interval": "month"}}},
        ],
        "expand": ["x", "y"],
        "items": [{"id": "a"}, {"id": "b"}],
        "flag": "true",
        "empty": "",
    }


def test_errors_have_stripes_shape_and_unknown_routes_are_noted(standin):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Customer.retrieve("cus_nope")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    assert missing.value.error.param == "id"
    assert "No such customer: 'cus_nope'" in str(missing.value)
    assert standin.unhandled == []  # an unknown id is not an unknown route

    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        stripe.Coupon.retrieve("co_1")
    assert standin.unhandled == ["GET /v1/coupons/co_1"]


def test_requests_are_recorded_with_decoded_params(standin):
    customer = stripe.Customer.create(email="a@example.com", metadata={"reapi_user": "3"})
    assert standin.requests[-1].method == "POST"
    assert standin.requests[-1].path == "/v1/customers"
    assert standin.requests[-1].params == {
        "email": "a@example.com",
        "metadata": {"reapi_user": "3"},
    }
    assert standin.requests[-1].headers["Authorization"] == "Bearer sk_test_standin"
    stripe.Customer.retrieve(customer.id)
    assert [str(r) for r in standin.calls("GET")] == [f"GET /v1/customers/{customer.id}"]


def test_idempotency_key_replays_the_first_response(standin):
    first = stripe.Customer.create(email="a@example.com", idempotency_key="k1")
    again = stripe.Customer.create(email="a@example.com", idempotency_key="k1")
    assert first.id == again.id
    assert len(standin.objects("customer")) == 1


# --- The stripe library -----------------------------------------------------------------------
def test_account(standin):
    account = stripe.Account.retrieve()
    assert account.id.startswith("acct_")
    assert account.object == "account"
    assert account.settings.dashboard.display_name == "Stand-in Test"
    assert account.charges_enabled and account.payouts_enabled and account.details_submitted
    assert account.default_currency == "usd"
    assert stripe.Account.retrieve(account.id).id == account.id


def test_products_and_prices(standin):
    product = stripe.Product.create(name="Pro", description="The pro plan", metadata={"t": "1"})
    assert (product.object, product.active, product.type) == ("product", True, "service")
    assert product.metadata.to_dict() == {"t": "1"}
    monthly = stripe.Price.create(
        product=product.id,
        unit_amount=1900,
        currency="usd",
        recurring={"interval": "month"},
        lookup_key="pro_monthly",
        nickname="Pro monthly",
    )
    yearly = stripe.Price.create(
        product=product.id,
        unit_amount=19000,
        currency="usd",
        recurring={"interval": "year"},
        lookup_key="pro_yearly",
    )
    one_off = stripe.Price.create(product=product.id, unit_amount=500, currency="usd")
    assert monthly.type == "recurring" and one_off.type == "one_time"
    assert monthly.recurring.interval == "month" and monthly.recurring.interval_count == 1
    assert one_off.recurring is None
    assert monthly.product == product.id and monthly.billing_scheme == "per_unit"

    found = stripe.Price.list(lookup_keys=["pro_monthly", "pro_yearly"], expand=["data.product"])
    assert {p.id for p in found.data} == {monthly.id, yearly.id}
    assert found.data[0].product.name == "Pro"
    assert standin.requests[-1].params["lookup_keys"] == ["pro_monthly", "pro_yearly"]

    with pytest.raises(stripe.InvalidRequestError, match="already uses that lookup key"):
        stripe.Price.create(
            product=product.id, unit_amount=1, currency="usd", lookup_key="pro_monthly"
        )
    stripe.Price.modify(monthly.id, active=False)
    assert [p.id for p in stripe.Price.list(active=False).data] == [monthly.id]
    assert len(stripe.Price.list(product=product.id).data) == 3
    assert stripe.Product.modify(product.id, name="Pro+").name == "Pro+"
    assert stripe.Product.retrieve(product.id).name == "Pro+"
    assert [p.id for p in stripe.Product.list().data] == [product.id]

    with pytest.raises(stripe.InvalidRequestError) as no_product:
        stripe.Price.create(product="prod_nope", unit_amount=1, currency="usd")
    assert no_product.value.http_status == 400 and no_product.value.error.param == "product"


def test_customers(standin):
    customer = stripe.Customer.create(email="c@example.com", name="C", metadata={"u": "1"})
    assert customer.id.startswith("cus_") and customer.balance == 0
    assert customer.invoice_settings.default_payment_method is None
    assert customer.delinquent is False and "deleted" not in customer
    stripe.Customer.create(email="other@example.com")
    assert stripe.Customer.retrieve(customer.id).email == "c@example.com"
    assert stripe.Customer.modify(customer.id, metadata={"u": "", "v": "2"}).metadata.to_dict() == {
        "v": "2"
    }
    assert [c.id for c in stripe.Customer.list(email="c@example.com").data] == [customer.id]


def test_list_pagination(standin):
    ids = [stripe.Customer.create(email=f"{i}@example.com").id for i in range(5)]
    page = stripe.Customer.list(limit=2)
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    assert page.url == "/v1/customers" and page.object == "list"
    assert [c.id for c in page.auto_paging_iter()] == ids[::-1]


def test_checkout_payment_session(standin):
    price = _pack(standin, amount=500)
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": price.id, "quantity": 3}],
        success_url="https://app.example/ok",
        cancel_url="https://app.example/cancel",
        client_reference_id="42",
        customer_email="buyer@example.com",
        metadata={"reapi_credits_micros": "5000000"},
    )
    assert session.id.startswith("cs_test_")
    assert session.url == f"{standin.url}/pay/{session.id}"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_total, session.currency) == (1500, "usd")
    assert session.payment_intent is None and session.subscription is None
    sent = standin.calls("POST", "/v1/checkout/sessions")[0].params
    assert sent["line_items"] == [{"price": price.id, "quantity": "3"}]

    again = stripe.checkout.Session.retrieve(session.id, expand=["line_items"])
    assert again.client_reference_id == "42"
    assert again.line_items.data[0].price.id == price.id
    assert again.line_items.data[0].quantity == 3
    listed = stripe.checkout.Session.list_line_items(session.id)
    assert [li.amount_total for li in listed.data] == [1500]
    assert [s.id for s in stripe.checkout.Session.list().data] == [session.id]

    done = standin.complete_checkout(session.id)
    assert (done["status"], done["payment_status"]) == ("complete", "paid")
    assert done["customer_details"]["email"] == "buyer@example.com"
    intent = stripe.PaymentIntent.retrieve(done["payment_intent"])
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 1500, 1500)
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert charge.paid and charge.payment_intent == intent.id and not charge.refunded
    assert stripe.BalanceTransaction.retrieve(charge.balance_transaction).source == charge.id
    with pytest.raises(ValueError, match="not open"):
        standin.complete_checkout(session.id)


def test_checkout_unpaid_and_mode_checks(standin):
    price = _pack(standin)
    session = stripe.checkout.Session.create(
        mode="payment", line_items=[{"price": price.id, "quantity": 1}], success_url="https://x"
    )
    done = standin.complete_checkout(session.id, paid=False)
    assert (done["status"], done["payment_status"]) == ("complete", "unpaid")
    assert standin.get(done["payment_intent"])["status"] == "processing"

    with pytest.raises(stripe.InvalidRequestError, match="`subscription` mode"):
        stripe.checkout.Session.create(
            mode="subscription", line_items=[{"price": price.id}], success_url="https://x"
        )
    with pytest.raises(stripe.InvalidRequestError) as no_price:
        stripe.checkout.Session.create(mode="payment", line_items=[{"price": "price_nope"}])
    assert no_price.value.error.param == "line_items[0][price]"


def test_checkout_subscription_and_its_lifecycle(standin):
    monthly = _plan(standin, interval="month", amount=900)
    yearly = _plan(standin, interval="year", amount=9000)
    done = _subscribed(standin, monthly, metadata={"reapi_user": "7"})
    assert (done["status"], done["payment_status"]) == ("complete", "paid")

    sub = stripe.Subscription.retrieve(done["subscription"])
    assert (sub.status, sub.customer) == ("active", done["customer"])
    assert sub.metadata.to_dict() == {"reapi_user": "7"}
    assert sub.current_period_end - sub.current_period_start == 30 * 86400
    item = sub["items"].data[0]
    assert item.price.id == monthly.id and item.subscription == sub.id
    assert item.current_period_end == sub.current_period_end
    first = stripe.Invoice.retrieve(done["invoice"])
    assert (first.status, first.paid, first.billing_reason) == ("paid", True, "subscription_create")
    assert first.parent.subscription_details.subscription == sub.id
    assert first.parent.subscription_details.metadata.to_dict() == {"reapi_user": "7"}
    assert first.lines.data[0].price.id == monthly.id
    assert first.lines.data[0].pricing.price_details.price == monthly.id
    assert first.lines.data[0].period.end == sub.current_period_end
    assert (first.amount_paid, first.amount_remaining) == (900, 0)
    assert stripe.Charge.retrieve(first.charge).invoice == first.id
    assert sub.latest_invoice == first.id

    ending = stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    assert ending.cancel_at_period_end and ending.cancel_at == sub.current_period_end
    assert not stripe.Subscription.modify(sub.id, cancel_at_period_end=False).cancel_at_period_end

    changed = stripe.Subscription.modify(
        sub.id,
        items=[{"id": item.id, "price": yearly.id}],
        proration_behavior="create_prorations",
    )
    assert changed["items"].data[0].price.id == yearly.id
    assert changed["items"].data[0].id == item.id
    assert standin.requests[-1].params["items"] == [{"id": item.id, "price": yearly.id}]
    assert standin.requests[-1].params["proration_behavior"] == "create_prorations"

    renewal = standin.renew(sub.id)
    assert (renewal["billing_reason"], renewal["status"], renewal["amount_paid"]) == (
        "subscription_cycle",
        "paid",
        9000,
    )
    renewed = stripe.Subscription.retrieve(sub.id)
    assert renewed.current_period_start == sub.current_period_end
    assert renewed.current_period_end - renewed.current_period_start == 365 * 86400

    failed = standin.renew(sub.id, paid=False)
    assert (failed["status"], failed["paid"], failed["attempt_count"]) == ("open", False, 1)
    assert failed["amount_remaining"] == 9000 and failed["next_payment_attempt"]
    assert stripe.Subscription.retrieve(sub.id).status == "past_due"
    assert stripe.PaymentIntent.retrieve(failed["payment_intent"]).last_payment_error
    assert stripe.Invoice.pay(failed["id"]).status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"

    invoices = stripe.Invoice.list(customer=done["customer"])
    assert [i.id for i in invoices.data] == [failed["id"], renewal["id"], first.id]
    assert len(stripe.Invoice.list(subscription=sub.id).data) == 3

    canceled = stripe.Subscription.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.canceled_at and canceled.ended_at
    assert standin.calls("DELETE")[0].path == f"/v1/subscriptions/{sub.id}"
    assert stripe.Subscription.list(customer=done["customer"]).data == []
    assert len(stripe.Subscription.list(customer=done["customer"], status="all").data) == 1


def test_subscription_unpaid_checkout_and_api_create(standin):
    price = _plan(standin)
    customer = stripe.Customer.create(email="x@example.com")
    session = stripe.checkout.Session.create(
        mode="subscription", customer=customer.id, line_items=[{"price": price.id}]
    )
    done = standin.complete_checkout(session.id, paid=False)
    assert standin.get(done["subscription"])["status"] == "incomplete"
    assert standin.get(done["invoice"])["status"] == "open"

    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])
    assert sub.status == "active" and stripe.Invoice.retrieve(sub.latest_invoice).paid
    stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    with pytest.raises(ValueError, match="cancel at the period end"):
        standin.renew(sub.id)
    ended = standin.end_period(sub.id)
    assert (ended["status"], ended["ended_at"]) == ("canceled", sub.current_period_end)


def test_refund_helper_and_api(standin):
    price = _pack(standin, amount=1000)
    session = stripe.checkout.Session.create(
        mode="payment", line_items=[{"price": price.id}], success_url="https://x"
    )
    intent = standin.complete_checkout(session.id)["payment_intent"]
    charge_id = standin.get(intent)["latest_charge"]

    partial = standin.refund(intent, 400)
    assert (partial["object"], partial["amount"], partial["charge"]) == ("refund", 400, charge_id)
    charge = stripe.Charge.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (400, False)
    assert [r.id for r in charge.refunds.data] == [partial["id"]]

    rest = stripe.Refund.create(charge=charge_id)
    assert rest.amount == 600 and rest.payment_intent == intent
    charge = stripe.Charge.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert len(stripe.Refund.list(charge=charge_id).data) == 2
    with pytest.raises(stripe.InvalidRequestError, match="greater than unrefunded"):
        stripe.Refund.create(payment_intent=intent, amount=1)

    dispute = standin.dispute(intent)
    assert (dispute["status"], dispute["payment_intent"]) == ("needs_response", intent)
    assert standin.dispute(charge_id, status="lost")["id"] == dispute["id"]


def test_payment_intents_charges_invoices_by_api_and_create_helper(standin):
    customer = standin.create("customer", email="h@example.com")
    intent = stripe.PaymentIntent.create(amount=700, currency="usd", customer=customer["id"])
    assert (intent.status, intent.latest_charge) == ("requires_payment_method", None)
    confirmed = stripe.PaymentIntent.create(amount=800, currency="usd", confirm=True)
    assert confirmed.status == "succeeded" and confirmed.latest_charge.startswith("ch_")
    charge = stripe.Charge.create(amount=900, currency="usd", customer=customer["id"])
    assert charge.paid and charge.status == "succeeded"
    assert [c.id for c in stripe.Charge.list(customer=customer["id"]).data] == [charge.id]
    assert len(stripe.PaymentIntent.list(customer=customer["id"]).data) == 2
    assert len(stripe.BalanceTransaction.list().data) == 2
    draft = stripe.Invoice.create(customer=customer["id"], metadata={"m": "1"})
    assert (draft.status, draft.amount_due, draft.lines.data) == ("draft", 0, [])

    price = standin.create("price", product_data={"name": "P"}, unit_amount=5, currency="eur")
    assert stripe.Price.retrieve(price["id"]).currency == "eur"
    assert standin.calls("POST", "/v1/prices") == []  # the helper does not use HTTP


def test_a_bug_in_the_standin_is_a_500_not_a_hang(standin, monkeypatch):
    def broken(objects, params):
        raise ZeroDivisionError

    monkeypatch.setattr(standin, "_filter_customer", broken)
    with pytest.raises(stripe.APIError, match="stand-in bug"):
        stripe.Customer.list()
    assert "ZeroDivisionError" in standin.errors[0]


def test_billing_portal(standin):
    customer = stripe.Customer.create(email="p@example.com")
    portal = stripe.billing_portal.Session.create(
        customer=customer.id, return_url="https://app.example/billing"
    )
    assert portal.id.startswith("bps_") and portal.object == "billing_portal.session"
    assert portal.url == f"{standin.url}/portal/{portal.id}"
    assert (portal.customer, portal.return_url) == (customer.id, "https://app.example/billing")


# --- Events and signatures --------------------------------------------------------------------
def test_event_is_stored_and_retrievable(standin):
    customer = stripe.Customer.create(email="e@example.com")
    event = standin.event(
        "customer.updated", customer, previous_attributes={"email": "old@example.com"}
    )
    assert event["id"].startswith("evt_") and event["object"] == "event"
    assert event["api_version"] == API_VERSION == stripe.api_version
    assert (event["livemode"], event["pending_webhooks"]) == (False, 1)
    assert event["request"] == {"id": None, "idempotency_key": None}
    assert event["data"]["object"]["id"] == customer.id
    assert event["data"]["previous_attributes"] == {"email": "old@example.com"}
    fetched = stripe.Event.retrieve(event["id"])
    assert fetched.type == "customer.updated" and fetched.data.object.email == "e@example.com"


def test_signature_verifies_with_the_stripe_library(standin):
    secret = "whsec_test_standin"
    event = standin.event("invoice.paid", {"id": "in_1", "object": "invoice"})
    body, header = signed(event, secret)
    assert stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=300)
    assert stripe.Webhook.construct_event(body, header, secret).id == event["id"]

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body.decode(), header, "whsec_other", tolerance=300)
    stale = sign(body, secret, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.WebhookSignature.verify_header(body.decode(), stale, secret, tolerance=300)


# --- dj-stripe --------------------------------------------------------------------------------
def test_djstripe_refuses_the_short_key():
    from djstripe.exceptions import InvalidStripeAPIKey
    from djstripe.models.api import get_api_key_details_by_prefix

    with pytest.raises(InvalidStripeAPIKey):
        get_api_key_details_by_prefix("sk_test_standin")
    assert get_api_key_details_by_prefix(API_KEY)[1] is False


def test_djstripe_syncs_products_prices_customers(djstripe_standin):
    from djstripe import models as djm

    standin = djstripe_standin
    price = _plan(standin, lookup_key="pro")
    customer = stripe.Customer.create(email="d@example.com", metadata={"djstripe_subscriber": "x"})
    standin.requests.clear()

    synced = djm.Customer.sync_from_stripe_data(stripe.Customer.retrieve(customer.id))
    assert synced.email == "d@example.com" and synced.livemode is False
    # The first object synced with a key makes dj-stripe look up the key's account (twice).
    assert [str(r) for r in standin.requests[1:]] == ["GET /v1/account", "GET /v1/account"]
    assert synced.djstripe_owner_account.id == standin.account["id"]

    standin.requests.clear()
    djprice = djm.Price.sync_from_stripe_data(stripe.Price.retrieve(price.id))
    assert (djprice.lookup_key, djprice.product.name) == ("pro", "Plan month")
    assert [str(r) for r in standin.requests[1:]] == [
        f"GET /v1/products/{price.product}",
        f"GET /v1/products/{price.product}/features",
    ]
    assert djm.Product.sync_from_stripe_data(stripe.Product.retrieve(price.product)).active
    assert standin.unhandled == []


def test_djstripe_with_a_seeded_account_makes_no_account_lookup(djstripe_standin):
    from djstripe import models as djm

    standin = djstripe_standin
    account = djm.Account.objects.create(id=standin.account["id"], livemode=False)
    djm.APIKey.objects.create(
        secret=API_KEY, type="secret", livemode=False, djstripe_owner_account=account
    )
    customer = stripe.Customer.create(email="s@example.com")
    djm.Customer.sync_from_stripe_data(stripe.Customer.retrieve(customer.id))
    assert standin.calls(path="/v1/account") == []


def test_djstripe_syncs_a_subscription_checkout(djstripe_standin):
    from djstripe import models as djm

    standin = djstripe_standin
    price = _plan(standin)
    done = _subscribed(standin, price)
    standin.requests.clear()

    session = djm.Session.sync_from_stripe_data(
        stripe.checkout.Session.retrieve(done["id"], expand=["line_items"])
    )
    assert session.subscription.id == done["subscription"]
    assert session.customer.id == done["customer"]
    subscription = djm.Subscription.sync_from_stripe_data(
        stripe.Subscription.retrieve(done["subscription"])
    )
    assert subscription.is_valid() and subscription.stripe_data["status"] == "active"
    assert list(subscription.items.values_list("price__id", flat=True)) == [price.id]

    invoice = djm.Invoice.sync_from_stripe_data(stripe.Invoice.retrieve(done["invoice"]))
    assert invoice.paid and invoice.subscription == subscription
    assert invoice.charge.id == standin.get(done["invoice"])["charge"]
    assert invoice.payment_intent.id == standin.get(done["invoice"])["payment_intent"]
    line = djm.LineItem.objects.get()
    assert line.subscription == subscription
    assert line.subscription_item.id == subscription.items.get().id
    assert standin.unhandled == []


def test_djstripe_syncs_a_payment_charge_and_refund(djstripe_standin):
    from djstripe import models as djm

    standin = djstripe_standin
    price = _pack(standin, amount=1000)
    session = stripe.checkout.Session.create(
        mode="payment", line_items=[{"price": price.id}], success_url="https://x"
    )
    done = standin.complete_checkout(session.id)
    standin.refund(done["payment_intent"], 250)

    synced = djm.Session.sync_from_stripe_data(stripe.checkout.Session.retrieve(session.id))
    assert synced.payment_intent.id == done["payment_intent"] and synced.customer is None
    charge_id = standin.get(done["payment_intent"])["latest_charge"]
    charge = djm.Charge.sync_from_stripe_data(stripe.Charge.retrieve(charge_id))
    assert charge.balance_transaction.source == charge_id
    refund = djm.Refund.objects.get()
    assert refund.amount == 250 and refund.charge == charge
    assert standin.unhandled == []


def test_djstripe_processes_an_event_by_retrieving_the_object(djstripe_standin):
    from djstripe import models as djm

    standin = djstripe_standin
    done = _subscribed(standin, _plan(standin))
    stripe.Subscription.modify(done["subscription"], cancel_at_period_end=True)
    event = standin.event(
        "customer.subscription.updated",
        stripe.Subscription.retrieve(done["subscription"]),
        previous_attributes={"cancel_at_period_end": False},
    )
    standin.requests.clear()

    djm.Event.process(event)
    subscription = djm.Subscription.objects.get(id=done["subscription"])
    assert subscription.stripe_data["cancel_at_period_end"] is True
    assert f"GET /v1/subscriptions/{done['subscription']}" in map(str, standin.requests)
    assert standin.unhandled == []
