"""Telling customers about announced price changes: a future-dated price is an announcement
(catalog.Price.clean makes it at least PRICE_NOTICE_DAYS ahead); a periodic task emails each
active customer once about the changes not yet announced, then marks them announced.

Active customers: open accounts with credits left or API usage in the last 90 days.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from catalog.models import Price

logger = logging.getLogger(__name__)

ACTIVE_WITHIN = timedelta(days=90)


def active_customers():
    from gateway.models import UsageRecord

    recent = UsageRecord.objects.filter(
        user_id=OuterRef("pk"), created_at__gte=timezone.now() - ACTIVE_WITHIN
    )
    return get_user_model().objects.filter(
        Q(credit_account__balance_micros__gt=0) | Exists(recent),
        is_active=True, closed_at__isnull=True,
    )  # fmt: skip


def describe(price: Price) -> str:
    from reapi.money import credits_text

    parts = []
    if price.input_micros_per_mtok or price.output_micros_per_mtok:
        parts.append(
            f"{credits_text(price.input_micros_per_mtok)} credits per million input tokens, "
            f"{credits_text(price.output_micros_per_mtok)} per million output tokens"
        )
    if price.per_request_micros:
        parts.append(f"{credits_text(price.per_request_micros)} credits per request")
    for key, value in (price.image_micros or {}).items():
        parts.append(f"{credits_text(value)} credits per image ({key})")
    for key, value in (price.video_micros_per_second or {}).items():
        parts.append(f"{credits_text(value)} credits per second of video ({key})")
    return "; ".join(parts) or "free"


def announce_price_changes() -> int:
    """Email the not-yet-announced future prices to every active customer, once; returns
    how many emails were sent."""
    with transaction.atomic():
        pending = list(
            Price.objects.select_for_update(skip_locked=True)
            .filter(effective_from__gt=timezone.now(), announced_at__isnull=True)
            .select_related("model")
            .order_by("effective_from")
        )
        if not pending:
            return 0
        # Claimed in this transaction: another worker skips these rows.
        Price.objects.filter(pk__in=[p.pk for p in pending]).update(announced_at=timezone.now())
        lines = [
            f"- {p.model.display_name} ({p.model.slug}), from "
            f"{p.effective_from:%Y-%m-%d %H:%M} UTC: {describe(p)}"
            for p in pending
        ]
        body = (
            "We are changing the price of these models:\n\n" + "\n".join(lines) + "\n\n"
            "Until each date the current price applies. The model list and prices: "
            f"{settings.SITE_URL}/v1/models\n"
        )
        emails = list(active_customers().values_list("email", flat=True))
        messages = [("Upcoming price changes at reAPI", body, None, [email]) for email in emails]
        sent = send_mass_mail(messages, fail_silently=False) if messages else 0
    logger.info("price changes announced", extra={"prices": len(pending), "emails": sent})
    return sent
