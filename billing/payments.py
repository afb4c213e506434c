"""Money from Stripe, turned into credits: the rules, called by the webhook receivers in
billing/stripe_hooks.py (and directly by tests).

Credits are granted from webhooks only, never from a redirect the browser follows, and
exactly once per paid Stripe object: each grant's ledger idempotency key is the object's id
(`stripe:checkout:<cs_…>` for a pack, `stripe:invoice:<in_…>` for a subscription period), so
a replayed, duplicated or reordered event changes nothing the second time. What a pack
grants is written into the Checkout Session's metadata when we create it (signed by the
event that reports it paid), so a pack edited in admin meanwhile does not change a purchase
in flight. A subscription period grants its plan's credits when its invoice is paid.

Failed renewals, refunds and disputes become `PaymentIssue` rows (one per Stripe object) that
flag the account; a refund or a lost dispute takes the purchase's credits back, as far as
the balance allows (never below zero), through a ledger entry keyed by the Stripe object.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing import ledger
from billing.models import CreditAccount, CreditPack, LedgerEntry, PaymentIssue, Plan

logger = logging.getLogger(__name__)

META_USER = "reapi_user"
META_CREDITS = "reapi_credits_micros"
META_OFFER = "reapi_offer"  # "pack:<slug>" or "plan:<slug>"
META_PREVIOUS_PLAN = "reapi_previous_plan"  # "plan:<slug>", written on a plan change


def _user_from(metadata: dict[str, Any] | None, customer_id: str | None):
    """The customer's user: from our metadata, else from dj-stripe's customer row."""
    User = get_user_model()
    value = (metadata or {}).get(META_USER)
    if value and str(value).isdigit():
        user = User.objects.filter(pk=int(value)).first()
        if user is not None:
            return user
    if customer_id:
        from djstripe.models import Customer

        customer = Customer.objects.filter(id=customer_id).select_related("subscriber").first()
        if customer is not None and customer.subscriber is not None:
            return customer.subscriber
    return None


def grant_for_checkout(session: dict[str, Any], *, brand: Any = None) -> LedgerEntry | None:
    """A paid pack purchase (`checkout.session.completed` once paid, or
    `checkout.session.async_payment_succeeded`): its credits, once.

    `brand`: the session is from a white-label brand's own Stripe account (brands/stripe.py):
    only that brand's customers are credited, and the key names the brand (another account's
    ids are its own)."""
    if session.get("mode") != "payment" or session.get("payment_status") != "paid":
        return None  # unpaid (an async method still pending): its success event comes later
    metadata = session.get("metadata") or {}
    credits = metadata.get(META_CREDITS, "")
    user = _user_from(metadata, None if brand else session.get("customer"))
    if user is not None and user.brand_id != (brand.id if brand else None):
        user = None  # a customer of another site
    if user is None or not str(credits).isdigit() or int(credits) <= 0:
        logger.warning("a paid checkout session we did not create", extra={"id": session["id"]})
        return None
    account = f"{brand.slug}:" if brand else ""
    return ledger.grant(
        ledger.account_for(user),
        amount_micros=int(credits),
        idempotency_key=f"stripe:{account}checkout:{session['id']}",
        kind=LedgerEntry.Kind.PURCHASE,
        reference=stripe_id(session.get("payment_intent")) or session["id"],  # what refunds name
        memo=f"Credit pack: {_pack_name(metadata.get(META_OFFER, ''))}",
    )


def _pack_name(offer: str) -> str:
    if offer.startswith("brandpack:"):  # a brand's pack: its name, as it was sold
        return offer.removeprefix("brandpack:")
    slug = offer.removeprefix("pack:")
    return CreditPack.objects.filter(slug=slug).values_list("name", flat=True).first() or slug


def stripe_id(value: Any) -> str | None:
    """A Stripe reference, expanded (an object) or not (its id)."""
    return value.get("id") if isinstance(value, dict) else value


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    return stripe_id(invoice.get("subscription") or parent.get("subscription"))


def _line_price(line: dict[str, Any]) -> str | None:
    # Older API versions name the price on the line; newer ones under pricing.
    details = (line.get("pricing") or {}).get("price_details") or {}
    return stripe_id(line.get("price")) or details.get("price")


def _plan_named(metadata: dict[str, Any], key: str = META_OFFER) -> Plan | None:
    kind, _, slug = str(metadata.get(key) or "").partition(":")
    return Plan.objects.filter(slug=slug).first() if kind == "plan" and slug else None


def _invoice_plan(invoice: dict[str, Any]) -> Plan | None:
    """The plan an invoice pays for: as its subscription's metadata names it (we write it at
    checkout and on every plan change), else the first charged line's price."""
    plan = _plan_named(_subscription_metadata(invoice))
    if plan is not None:
        return plan
    for line in (invoice.get("lines") or {}).get("data") or []:
        price_id = _line_price(line)
        if price_id and (line.get("amount") or 0) >= 0:
            plan = Plan.objects.filter(stripe_price_id=price_id).first()
            if plan is not None:
                return plan
    return None


def _period_share(invoice: dict[str, Any], plan: Plan) -> tuple[int, int]:
    """Which part of the period a plan change's invoice covers, as (numerator, denominator)
    in seconds: its charged line's period over one whole interval ending where it ends."""
    from datetime import UTC, datetime

    for line in (invoice.get("lines") or {}).get("data") or []:
        period = line.get("period") or {}
        if _line_price(line) == plan.stripe_price_id and period.get("end"):
            end = datetime.fromtimestamp(period["end"], UTC)
            months = 12 if plan.interval == Plan.Interval.YEAR else 1
            year, month = divmod(end.year * 12 + end.month - 1 - months, 12)
            day = min(end.day, _days_in(year, month + 1))
            start = end.replace(year=year, month=month + 1, day=day)
            whole = int((end - start).total_seconds())
            covered = min(period["end"] - period.get("start", period["end"]), whole)
            return max(covered, 0), max(whole, 1)
    return 1, 1


def _days_in(year: int, month: int) -> int:
    import calendar

    return calendar.monthrange(year, month)[1]


def set_plan(user: Any, plan: Plan | None) -> None:
    """The plan whose limits apply (accounts/keys.py reads it); the key cache forgets."""
    from accounts import keys

    if user.plan_id != (plan.pk if plan else None):
        get_user_model().objects.filter(pk=user.pk).update(plan=plan)
        user.plan = plan
        keys.forget_cached_for(user)


def grant_for_invoice(invoice: dict[str, Any]) -> LedgerEntry | None:
    """A paid subscription invoice (`invoice.paid`), once per invoice: the first one and
    each renewal grant the plan's credits for the period; an upgrade's invoice grants the
    difference between the new plan's and the previous plan's credits for the part of the
    period that is left (a downgrade's credit comes on the next invoice and grants nothing)."""
    if invoice.get("status") != "paid" or not _invoice_subscription(invoice):
        return None
    reason = invoice.get("billing_reason")
    if reason not in {"subscription_create", "subscription_cycle", "subscription_update"}:
        return None
    plan = _invoice_plan(invoice)
    subscription = _invoice_subscription(invoice)
    metadata = _subscription_metadata(invoice)
    user = _user_from(metadata, invoice.get("customer"))
    if plan is None or user is None:
        logger.warning("a paid invoice we cannot place", extra={"id": invoice["id"]})
        return None
    PaymentIssue.objects.filter(
        user=user, kind=PaymentIssue.Kind.PAYMENT_FAILED, resolved_at=None
    ).update(resolved_at=timezone.now())  # a paid renewal settles a failed one
    set_plan(user, plan)
    amount, memo = plan.credits_micros, f"{plan.name}: credits for the period"
    if reason == "subscription_update":
        previous = _plan_named(metadata, META_PREVIOUS_PLAN)
        if previous is None or plan.credits_micros <= previous.credits_micros:
            return None
        covered, whole = _period_share(invoice, plan)
        amount = (plan.credits_micros - previous.credits_micros) * covered // whole
        memo = f"Upgrade from {previous.name} to {plan.name}: credits for the rest of the period"
        if amount <= 0:
            return None
    return ledger.grant(
        ledger.account_for(user),
        amount_micros=amount,
        idempotency_key=f"stripe:invoice:{invoice['id']}",
        kind=LedgerEntry.Kind.SUBSCRIPTION,
        reference=subscription,
        memo=memo,
    )


def subscription_changed(subscription: dict[str, Any]) -> None:
    """`customer.subscription.updated` / `.deleted`: a subscription that ended (cancelled,
    unpaid after Stripe's retries) takes its plan's limits away. Credits already granted
    stay: they never expire while the account is active."""
    if subscription.get("status") not in {"canceled", "unpaid", "incomplete_expired"}:
        return
    user = _user_from(subscription.get("metadata"), stripe_id(subscription.get("customer")))
    if user is not None:
        set_plan(user, None)


def _subscription_metadata(invoice: dict[str, Any]) -> dict[str, Any]:
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    return parent.get("metadata") or invoice.get("subscription_details", {}).get("metadata") or {}


def note_payment_failed(invoice: dict[str, Any]) -> PaymentIssue | None:
    """A renewal that could not be charged: no credits, the account flagged."""
    user = _user_from(_subscription_metadata(invoice), invoice.get("customer"))
    if user is None:
        return None
    issue, _ = PaymentIssue.objects.get_or_create(
        stripe_id=invoice["id"],
        defaults={"user": user, "kind": PaymentIssue.Kind.PAYMENT_FAILED,
                  "amount_cents": invoice.get("amount_due") or 0,
                  "currency": invoice.get("currency") or "usd"},
    )  # fmt: skip
    return issue


def _purchase(payment_intent: Any, invoice: Any, *, brand: Any = None) -> LedgerEntry | None:
    """The grant a payment bought: a pack (its entry's reference is the payment intent) or a
    subscription period (keyed by its invoice). Only a purchase of this Stripe account's own
    customers: ours, or `brand`'s (whose webhooks can name any id they like)."""
    payment_intent, invoice = stripe_id(payment_intent), stripe_id(invoice)
    owned = LedgerEntry.objects.filter(account__user__brand=brand.id if brand else None)
    if payment_intent:
        entry = owned.filter(kind=LedgerEntry.Kind.PURCHASE, reference=payment_intent).first()
        if entry is not None:
            return entry
    if invoice and brand is None:  # a subscription period's grant; brands sell packs only
        return owned.filter(idempotency_key=f"stripe:invoice:{invoice}").first()
    return None


def _prefix(brand: Any) -> str:
    """Another Stripe account's ids are its own, and a reseller signs its own events (it can
    make up any id): keys and issues from a brand's start with `brand:<slug>:`, which none of
    ours does, so no id it makes up can name one of ours."""
    return f"brand:{brand.slug}:" if brand else ""


def _take_back(granted: LedgerEntry, *, key: str, wanted: int) -> int:
    """Remove up to `wanted` of what a purchase granted, as far as the balance allows, once
    per key. Returns the micro-credits removed."""
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update().get(pk=granted.account_id)
        amount = min(wanted, account.balance_micros)
        if amount <= 0:
            return 0
        entry = ledger.debit(
            account, amount_micros=amount, idempotency_key=key,
            kind=LedgerEntry.Kind.ADJUSTMENT, reference=granted.reference,
            memo="Credits of a refunded or disputed purchase",
        )  # fmt: skip
    return -entry.amount_micros


def note_refund(charge: dict[str, Any], *, brand: Any = None) -> PaymentIssue | None:
    """`charge.refunded`: the purchase's credits go back in proportion to the amount
    refunded so far (as far as the balance allows); a second, larger refund of the same
    charge takes back the difference. `brand`: from that brand's own Stripe account."""
    granted = _purchase(charge.get("payment_intent"), charge.get("invoice"), brand=brand)
    if granted is None:
        return None  # not a payment we granted credits for
    refunded, total = charge.get("amount_refunded") or 0, charge.get("amount") or 0
    prefix = _prefix(brand)
    with transaction.atomic():
        issue, _ = PaymentIssue.objects.select_for_update().get_or_create(
            stripe_id=f"{prefix}refund:{charge['id']}",
            defaults={"user_id": granted.account.user_id, "kind": PaymentIssue.Kind.REFUND,
                      "currency": charge.get("currency") or "usd"},
        )  # fmt: skip
        if issue.amount_cents >= refunded or not total:
            return issue  # this refund (or a larger one) is already accounted for
        wanted = granted.amount_micros * refunded // total - issue.credits_removed_micros
        removed = _take_back(granted, key=f"stripe:{prefix}refund:{charge['id']}:{refunded}",
                             wanted=wanted)  # fmt: skip
        issue.amount_cents = refunded
        issue.credits_removed_micros += removed
        issue.save(update_fields=["amount_cents", "credits_removed_micros"])
    return issue


def note_dispute(
    dispute: dict[str, Any], *, closed: bool = False, brand: Any = None
) -> PaymentIssue | None:
    """`charge.dispute.created`: flag the account. `charge.dispute.closed`: lost, the
    purchase's credits go back as for a full refund; won, the flag is lifted. `brand`: from
    that brand's own Stripe account."""
    granted = _purchase(dispute.get("payment_intent"), None, brand=brand)
    if granted is None:
        return None
    prefix = _prefix(brand)
    with transaction.atomic():
        issue, _ = PaymentIssue.objects.select_for_update().get_or_create(
            stripe_id=f"{prefix}{dispute['id']}",
            defaults={"user_id": granted.account.user_id, "kind": PaymentIssue.Kind.DISPUTE,
                      "amount_cents": dispute.get("amount") or 0,
                      "currency": dispute.get("currency") or "usd"},
        )  # fmt: skip
        if closed and issue.resolved_at is None:
            if dispute.get("status") == "lost":
                issue.credits_removed_micros = _take_back(
                    granted,
                    key=f"stripe:{prefix}dispute:{dispute['id']}",
                    wanted=granted.amount_micros,
                )
            issue.resolved_at = timezone.now()
            issue.save(update_fields=["credits_removed_micros", "resolved_at"])
    return issue
