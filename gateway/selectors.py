"""Reads for the /v1 endpoints that are not the hot path."""

from __future__ import annotations

from django.db.models import Count, Sum
from django.utils import timezone

from accounts.keys import AuthenticatedKey
from billing.models import CreditAccount, Hold
from brands import selectors as brands
from catalog.pricing import price_json
from gateway.admission import brand_of
from reapi.money import credits_text


def models_for(key: AuthenticatedKey) -> dict[str, object]:
    """OpenAI's model list: the enabled models this key may use, each with its price in force
    and any announced change (`upcoming_pricing`, with its date)."""
    now = timezone.now()
    brand = brand_of(key)  # a white-label customer: the brand's offer, at the brand's prices
    data = []
    for m in brands.catalog(brand):
        if not key.allows_model(m.slug):
            continue
        current = m.price_at(now)
        upcoming = [price_json(p) for p in reversed(m.prices) if p.effective_from > now]
        data.append({
            "id": m.slug, "object": "model", "created": m.created,
            "owned_by": m.owned_by or (brand.slug if brand else "reapi"), "kind": m.kind,
            "pricing": price_json(current) if current else None,
            "upcoming_pricing": upcoming,
        })  # fmt: skip
    data.sort(key=lambda item: item["id"])
    return {"object": "list", "data": data}


def credits_for(key: AuthenticatedKey) -> dict[str, object]:
    balance = (
        CreditAccount.objects.filter(user_id=key.owner_id)
        .values_list("balance_micros", flat=True)
        .first()
    ) or 0
    held = Hold.objects.filter(account__user_id=key.owner_id, state=Hold.State.OPEN).aggregate(
        total=Sum("amount_micros"), count=Count("id")
    )
    return {
        "object": "credits",
        "balance_micros": balance,
        "balance_credits": credits_text(balance),
        "held_micros": held["total"] or 0,
        "open_holds": held["count"],
    }
