"""dj-stripe's webhook signals, wired to the rules in billing/payments.py.

dj-stripe verifies each event's signature, stores it once (a repeated event id is not
processed again) and runs these receivers inside the same transaction as its own syncing:
if a receiver raises, the whole event rolls back and dj-stripe answers 500, so Stripe
delivers it again. Receivers read the event's own object (signed), never a browser redirect.
"""

from __future__ import annotations

from typing import Any

from djstripe.signals import WEBHOOK_SIGNALS

from billing import payments


def _object(event: Any) -> dict[str, Any]:
    return event.data["object"]


def on_checkout_paid(sender: Any, event: Any, **_: Any) -> None:
    payments.grant_for_checkout(_object(event))


def on_invoice_paid(sender: Any, event: Any, **_: Any) -> None:
    payments.grant_for_invoice(_object(event))


def on_invoice_payment_failed(sender: Any, event: Any, **_: Any) -> None:
    payments.note_payment_failed(_object(event))


def on_subscription_changed(sender: Any, event: Any, **_: Any) -> None:
    payments.subscription_changed(_object(event))


def on_charge_refunded(sender: Any, event: Any, **_: Any) -> None:
    payments.note_refund(_object(event))


def on_dispute_created(sender: Any, event: Any, **_: Any) -> None:
    payments.note_dispute(_object(event))


def on_dispute_closed(sender: Any, event: Any, **_: Any) -> None:
    payments.note_dispute(_object(event), closed=True)


RECEIVERS = {
    "checkout.session.completed": on_checkout_paid,
    "checkout.session.async_payment_succeeded": on_checkout_paid,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_failed": on_invoice_payment_failed,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute_created,
    "charge.dispute.closed": on_dispute_closed,
}


def connect() -> None:
    for name, receiver in RECEIVERS.items():
        WEBHOOK_SIGNALS[name].connect(receiver, dispatch_uid=f"reapi-{name}")
