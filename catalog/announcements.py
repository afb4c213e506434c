"""Telling customers about announced price changes: a future-dated price is an announcement
(catalog.Price.clean makes it at least PRICE_NOTICE_DAYS ahead); a periodic task emails each
active customer once about the changes not yet announced, then marks them announced.

Active customers: open accounts with credits left or API usage in the last 90 days.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from brands import mail
from brands import selectors as brands
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
        recipients: dict[int | None, list[str]] = {}
        for brand_id, email in active_customers().values_list("brand_id", "email"):
            recipients.setdefault(brand_id, []).append(email)
        messages = []
        for brand_id, emails in recipients.items():
            messages += _messages(pending, brand_id, emails)
        sent = send_mass_mail(messages, fail_silently=False) if messages else 0
    logger.info("price changes announced", extra={"prices": len(pending), "emails": sent})
    return sent


def _messages(pending: list[Price], brand_id: int | None, emails: list[str]) -> list[tuple]:
    """The announcement as one site's customers see it: a white-label brand's customers
    hear only of the models the brand offers, at the brand's prices, from the brand."""
    brand = brands.get(brand_id)
    if brand_id is not None and (brand is None or not brand.enabled):
        return []
    shown = [p for p in pending if brand is None or brand.offers(p.model.slug)]
    if not shown:
        return []
    lines = [
        f"- {p.model.display_name} ({p.model.slug}), from "
        f"{p.effective_from:%Y-%m-%d %H:%M} UTC: "
        f"{describe(brand.price(p.model.slug, p) if brand else p)}"
        for p in shown
    ]
    site = mail.site_for(brand)
    body = (
        "We are changing the price of these models:\n\n" + "\n".join(lines) + "\n\n"
        "Until each date the current price applies. The model list and prices: "
        f"{site.url}/v1/models\n"
    )
    subject = f"Upcoming price changes at {site.name}"
    return [(subject, body, site.from_email, [email]) for email in emails]
