"""The brands' own Stripe: a customer's purchase (Settings → Billing on the brand's site) and
the brand account's webhook. Thin: the rules are in brands/stripe.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.stripe_api import BillingUnavailable
from brands import stripe as brand_stripe
from brands.models import Brand, BrandPack


@require_POST
@login_required
def buy_pack(request: HttpRequest, pack_id: int) -> HttpResponse:
    """Off to the brand's Stripe Checkout for one of its packs."""
    brand_id = request.user.brand_id
    if brand_id is None:
        raise Http404  # our own customers buy our packs (billing:buy-pack)
    pack = get_object_or_404(BrandPack, pk=pack_id, brand_id=brand_id, active=True)
    page = request.build_absolute_uri(reverse("billing:page"))
    try:
        url = brand_stripe.checkout_url(
            pack.brand, request.user, pack,
            success_url=page + "?checkout=success", cancel_url=page + "?checkout=cancelled",
        )  # fmt: skip
    except BillingUnavailable as error:
        messages.error(request, str(error))
        return redirect("billing:page")
    return redirect(url)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, slug: str) -> HttpResponse:
    brand = get_object_or_404(Brand, slug=slug)
    try:
        brand_stripe.receive(brand, request.body, request.headers.get("Stripe-Signature", ""))
    except brand_stripe.BadWebhook:
        return HttpResponse("Bad signature.", status=400, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
