"""The calls we make to Stripe: products and prices for the offers staff define, a customer
per user, Checkout Sessions for packs and plans, subscription changes, the customer portal.

Nothing here grants credits: Stripe's webhooks do (billing/payments.py). Every call uses
dj-stripe's secret key (test or live by STRIPE_LIVE_MODE); tests point the stripe library
at a local stand-in (tests/stripe_standin.py), never at Stripe.
"""

from __future__ import annotations

from typing import Any

import stripe
from django.db import transaction
from djstripe.models import Customer, Subscription
from djstripe.settings import djstripe_settings

from billing.models import CreditPack, Offer, Plan
from billing.payments import META_CREDITS, META_OFFER, META_PREVIOUS_PLAN, META_USER, stripe_id

LIVE_STATUSES = ("active", "trialing", "past_due", "incomplete", "unpaid")


class BillingUnavailable(Exception):
    """Stripe is not configured or could not be reached; the page says so."""


def _key() -> str:
    key = djstripe_settings.STRIPE_SECRET_KEY
    if not key:
        raise BillingUnavailable("Payments are not configured on this installation.")
    return key


def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return method(*args, api_key=_key(), **kwargs)
    except stripe.StripeError as error:  # never show Stripe's text to the customer
        raise BillingUnavailable("The payment provider could not be reached.") from error


# --- products and prices (manage.py sync_stripe_products) -------------------------------


def sync_offer(offer: Offer) -> str:
    """Create or update the offer's Stripe product and price; a changed amount, currency or
    interval makes a new price (Stripe prices are immutable) that takes over the lookup key,
    and the old one is archived. Returns what was done."""
    kind = "plan" if isinstance(offer, Plan) else "pack"
    metadata = {META_OFFER: f"{kind}:{offer.slug}"}
    if offer.stripe_product_id:
        _call(stripe.Product.modify, offer.stripe_product_id, name=offer.name,
              active=offer.active, metadata=metadata)  # fmt: skip
        done = "updated"
    else:
        product = _call(stripe.Product.create, name=offer.name, active=offer.active,
                        metadata=metadata)  # fmt: skip
        offer.stripe_product_id = product["id"]
        done = "created"
    recurring = {"interval": offer.interval} if isinstance(offer, Plan) else None
    current = _call(stripe.Price.retrieve, offer.stripe_price_id) if offer.stripe_price_id else None
    if current is None or not _same_price(current, offer, recurring):
        params: dict[str, Any] = {
            "product": offer.stripe_product_id, "unit_amount": offer.price_cents,
            "currency": offer.currency, "lookup_key": offer.lookup_key,
            "transfer_lookup_key": True, "metadata": metadata,
        }  # fmt: skip
        if recurring:
            params["recurring"] = recurring
        price = _call(stripe.Price.create, **params)
        if current is not None:
            _call(stripe.Price.modify, current["id"], active=False)
        offer.stripe_price_id = price["id"]
        done += ", new price"
    offer.save(update_fields=["stripe_product_id", "stripe_price_id"])
    return done


def _same_price(price: Any, offer: Offer, recurring: dict[str, str] | None) -> bool:
    interval = (price.get("recurring") or {}).get("interval")
    return (
        price.get("unit_amount") == offer.price_cents
        and price.get("currency") == offer.currency
        and interval == (recurring or {}).get("interval")
    )


# --- customers and checkout ---------------------------------------------------------------


def customer_for(user: Any) -> Customer:
    """The user's Stripe customer (dj-stripe's row), created on first need."""
    _key()  # configured at all?
    try:
        customer, _ = Customer.get_or_create(subscriber=user)
    except stripe.StripeError as error:
        raise BillingUnavailable("The payment provider could not be reached.") from error
    return customer


def checkout_url(user: Any, offer: Offer, *, success_url: str, cancel_url: str) -> str:
    """A Checkout Session for a pack (one payment) or a plan (a subscription); its URL."""
    if not offer.stripe_price_id:
        raise BillingUnavailable("This offer is not on sale yet.")
    customer = customer_for(user)
    metadata = {META_USER: str(user.pk), META_OFFER: offer.slug}
    params: dict[str, Any] = {
        "customer": customer.id,
        "client_reference_id": str(user.pk),
        "line_items": [{"price": offer.stripe_price_id, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if isinstance(offer, CreditPack):
        metadata[META_OFFER] = f"pack:{offer.slug}"
        metadata[META_CREDITS] = str(offer.credits_micros)  # what this purchase grants
        params |= {"mode": "payment", "metadata": metadata,
                   "payment_intent_data": {"metadata": metadata}}  # fmt: skip
    else:
        metadata[META_OFFER] = f"plan:{offer.slug}"
        params |= {"mode": "subscription", "metadata": metadata,
                   "subscription_data": {"metadata": metadata}}  # fmt: skip
    session = _call(stripe.checkout.Session.create, **params)
    return session["url"]


def portal_url(user: Any, *, return_url: str) -> str:
    customer = customer_for(user)
    session = _call(stripe.billing_portal.Session.create, customer=customer.id,
                    return_url=return_url)  # fmt: skip
    return session["url"]


# --- the subscription -----------------------------------------------------------------------


def current_subscription(user: Any) -> Subscription | None:
    """The user's live subscription as dj-stripe last synced it, if any."""
    return (
        Subscription.objects.filter(
            customer__subscriber=user, stripe_data__status__in=LIVE_STATUSES
        )
        .order_by("-created")
        .first()
    )


def plan_of(subscription: Subscription) -> Plan | None:
    """The plan a subscription is on, by its current price."""
    items = (subscription.stripe_data.get("items") or {}).get("data") or []
    price_ids = [stripe_id(item.get("price")) for item in items]
    return Plan.objects.filter(stripe_price_id__in=[p for p in price_ids if p]).first()


def renews_at(subscription: Subscription) -> Any:
    """The end of the paid period: on the subscription (older API versions) or on its
    items (newer ones)."""
    from djstripe.utils import convert_tstamp

    data = subscription.stripe_data
    end = data.get("current_period_end")
    if end is None:
        items = (data.get("items") or {}).get("data") or []
        end = items[0].get("current_period_end") if items else None
    return convert_tstamp(end) if end else None


def _sync(stripe_subscription: Any) -> Subscription:
    with transaction.atomic():
        return Subscription.sync_from_stripe_data(stripe_subscription, api_key=_key())


def set_cancel_at_period_end(subscription: Subscription, cancel: bool) -> Subscription:
    """Cancel at the end of the paid period (credits of the period stay), or resume."""
    updated = _call(stripe.Subscription.modify, subscription.id, cancel_at_period_end=cancel)
    return _sync(updated)


def cancel_now(subscription: Subscription) -> Subscription:
    """End the subscription immediately (the account is closing)."""
    return _sync(_call(stripe.Subscription.cancel, subscription.id))


def change_plan(subscription: Subscription, plan: Plan, current: Plan | None) -> Subscription:
    """Move to another plan now. An upgrade (more credits) is invoiced at once, prorated,
    and its paid invoice grants the extra credits for the rest of the period; a downgrade's
    prorated credit goes on the next invoice."""
    upgrade = current is None or plan.credits_micros > current.credits_micros
    items = _call(stripe.Subscription.retrieve, subscription.id)["items"]["data"]
    metadata = {META_OFFER: f"plan:{plan.slug}",
                META_PREVIOUS_PLAN: f"plan:{current.slug}" if current else ""}  # fmt: skip
    updated = _call(
        stripe.Subscription.modify,
        subscription.id,
        items=[{"id": items[0]["id"], "price": plan.stripe_price_id}],
        proration_behavior="always_invoice" if upgrade else "create_prorations",
        cancel_at_period_end=False,
        metadata=metadata,
    )
    return _sync(updated)
