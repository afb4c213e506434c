"""A white-label brand's own Stripe account: its customers buy the brand's packs by card on
the brand's site, the money goes to the brand, and the brand's webhooks grant the credits.

The same rules as ours (billing/payments.py): credits from a signed webhook only, once per
paid Checkout Session, the amount fixed in the session's metadata when we made it. The
session is made with the brand's secret key and an inline price (nothing to sync), and its
webhook is checked with the brand's own signing secret at /stripe/brand/<slug>/webhook/.
A refund or a lost dispute in the brand's account takes the purchase's credits back, as ours
do (billing/payments.py), and only from that brand's customers: a reseller holds its own
signing secret, so what its webhook names is trusted for its own customers and no one else."""

from __future__ import annotations

import logging
from typing import Any

import stripe

from billing import payments
from billing.stripe_api import BillingUnavailable
from brands.models import Brand, BrandPack

logger = logging.getLogger(__name__)

HANDLERS: dict[str, Any] = {
    "checkout.session.completed": lambda obj, brand: payments.grant_for_checkout(obj, brand=brand),
    "checkout.session.async_payment_succeeded": lambda obj, brand: payments.grant_for_checkout(
        obj, brand=brand
    ),
    "charge.refunded": lambda obj, brand: payments.note_refund(obj, brand=brand),
    "charge.dispute.created": lambda obj, brand: payments.note_dispute(obj, brand=brand),
    "charge.dispute.closed": lambda obj, brand: payments.note_dispute(
        obj, closed=True, brand=brand
    ),
}


def checkout_url(brand: Brand, user: Any, pack: BrandPack, *, success_url: str,
                 cancel_url: str) -> str:  # fmt: skip
    """A Checkout Session in the brand's Stripe account for one of its packs; its URL."""
    if not brand.sells_packs:
        raise BillingUnavailable("Card payments are not set up for this site.")
    metadata = {
        payments.META_USER: str(user.pk),
        payments.META_CREDITS: str(pack.credits_micros),
        payments.META_OFFER: f"brandpack:{pack.name}",
    }
    try:
        session = stripe.checkout.Session.create(
            api_key=brand.stripe_secret_key,
            mode="payment",
            customer_email=user.email,
            client_reference_id=str(user.pk),
            line_items=[
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": pack.currency,
                        "unit_amount": pack.price_cents,
                        "product_data": {"name": pack.name},
                    },
                }
            ],  # fmt: skip
            metadata=metadata,
            payment_intent_data={"metadata": metadata},
            success_url=success_url,
            cancel_url=cancel_url,
        )
    except stripe.StripeError as error:  # never show Stripe's text to the customer
        raise BillingUnavailable("The payment provider could not be reached.") from error
    return session["url"]


class BadWebhook(Exception):
    pass


def receive(brand: Brand, payload: bytes, signature: str) -> None:
    """One webhook from the brand's Stripe account: checked, then acted on (or ignored)."""
    if not brand.sells_packs:
        raise BadWebhook("no webhook secret")
    try:
        event = stripe.Webhook.construct_event(payload, signature, brand.stripe_webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise BadWebhook(type(error).__name__) from None
    handler = HANDLERS.get(event["type"])
    if handler is not None:
        handler(event["data"]["object"].to_dict(), brand)
    else:
        logger.info("brand webhook ignored", extra={"brand": brand.slug, "type": event["type"]})
