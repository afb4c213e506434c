"""Low-balance alerts: each user may set a threshold in Settings → Billing and gets one email
when the balance falls below it, not one per request. A periodic task (every minute) finds
the accounts that crossed it, which keeps the request path free of this; the alert re-arms
once the balance is back at or above the threshold (a top-up, a renewal).
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone

from brands import mail
from reapi.money import credits_text

logger = logging.getLogger(__name__)


def send_low_balance_alerts(*, limit: int = 500) -> int:
    """Email every account newly below its threshold, once; returns how many were sent."""
    User = get_user_model()
    armed = User.objects.filter(
        low_balance_threshold_micros__isnull=False,
        low_balance_alerted_at__isnull=True,
        is_active=True,
        credit_account__balance_micros__lt=F("low_balance_threshold_micros"),
    )
    sent = 0
    for user in armed.select_related("credit_account")[:limit]:
        # Claim it first (one email even if two workers run this at once).
        if not User.objects.filter(pk=user.pk, low_balance_alerted_at__isnull=True).update(
            low_balance_alerted_at=timezone.now()
        ):
            continue
        balance = credits_text(user.credit_account.balance_micros, grouping=True)
        threshold = credits_text(user.low_balance_threshold_micros, grouping=True)
        site = mail.site_of(user)  # a white-label customer hears from the brand
        send_mail(
            subject=f"Your {site.name} balance is low: {balance} credits",
            message=(
                f"Your balance is {balance} credits, below the {threshold} credits you asked "
                f"to be told about.\n\nTop up or change the alert in Settings → Billing: "
                f"{site.url}/settings/billing/\n"
            ),
            from_email=site.from_email,
            recipient_list=[user.email],
        )
        sent += 1
    rearmed = User.objects.filter(
        low_balance_alerted_at__isnull=False,
        credit_account__balance_micros__gte=F("low_balance_threshold_micros"),
    ).update(low_balance_alerted_at=None)
    if sent or rearmed:
        logger.info("low-balance alerts", extra={"sent": sent, "rearmed": rearmed})
    return sent
