"""Ending an account, by its owner (Settings → Profile → Close) or by staff (admin action):
the Stripe subscription is cancelled at once, unused subscription credits lapse through an
`expiry` ledger entry, and the login and every key stop working.

Which credits are unused subscription credits: spending draws on subscription credits
first (they are the ones that can lapse), so they are what the plan periods granted less
everything spent so far, capped at the balance. Credits bought in packs (and staff grants)
stay on the closed account, as the Terms say; they are refunded or restored on request.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Sum

from accounts.models import User
from accounts.services import user_close
from billing import ledger
from billing.models import CreditAccount, LedgerEntry

logger = logging.getLogger(__name__)

SPENDING = (LedgerEntry.Kind.HOLD, LedgerEntry.Kind.SETTLE, LedgerEntry.Kind.RELEASE)


class CannotTerminate(Exception):
    """The subscription could not be cancelled: nothing was changed."""


def unused_subscription_credits(account: CreditAccount) -> int:
    totals = dict(
        LedgerEntry.objects.filter(account=account)
        .values_list("kind")
        .annotate(total=Sum("amount_micros"))
    )
    granted = totals.get(LedgerEntry.Kind.SUBSCRIPTION, 0)
    spent = -sum(totals.get(kind, 0) for kind in SPENDING)
    lapsed = -totals.get(LedgerEntry.Kind.EXPIRY, 0)
    return max(0, min(granted - spent - lapsed, account.balance_micros))


def terminate(user: User) -> int:
    """Close the account; returns the subscription credits that lapsed (micro-credits)."""
    from billing import stripe_api

    subscription = stripe_api.current_subscription(user)
    if subscription is not None:
        try:
            stripe_api.cancel_now(subscription)
        except stripe_api.BillingUnavailable as error:
            raise CannotTerminate(
                "Your subscription could not be cancelled just now, so your account is still "
                "open. Please try again in a minute."
            ) from error
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update().get(user=user)
        lapsing = unused_subscription_credits(account)
        if lapsing:
            ledger.debit(
                account, amount_micros=lapsing, idempotency_key=f"termination:{user.pk}",
                kind=LedgerEntry.Kind.EXPIRY, memo="Unused subscription credits lapse on closing",
            )  # fmt: skip
        user_close(user)
    from billing.payments import set_plan

    set_plan(user, None)
    logger.info("account terminated", extra={"user": user.pk, "lapsed_micros": lapsing})
    return lapsing
