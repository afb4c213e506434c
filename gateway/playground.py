"""The playground (logged in): chat, images and video jobs from the browser, through the same
/v1 pipeline, ledger and usage rows as the API. The page holds a short-lived signed token for
the account's playground key (accounts/keys.py), never an API key's secret."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import keys
from brands import selectors as brands
from catalog.pricing import price_json

KINDS = ("chat", "image", "video")
CHAT_MAX_TOKENS = 1024  # what the playground asks for, and what its estimate assumes


def _strings() -> dict[str, str]:
    """The page script's own words, in the request's language ({n}: a number it fills in)."""
    return {
        "at_most": _("At most about {n} credits"),
        "charged": _("Charged {n} credits"),
        "credits": _("{n} credits"),
        "generating": _("Generating…"),
        "submitting": _("Submitting…"),
        "held": _("{n} credits held while it runs"),
        "no_size": _("This model does not offer that size"),
        "request_failed": _("The request failed."),
        "video_failed": _("The video failed."),
        "session_ended": _("Your session has ended: log in again."),
        "generated_image": _("Generated image"),
    }


def _models(user: object) -> list[dict]:
    """The models the user may try, at the user's prices (a white-label brand's customer:
    the brand's offer and prices)."""
    now = timezone.now()
    found = []
    for info in brands.catalog(brands.get(user.brand_id)):
        price = info.price_at(now)
        if info.kind not in KINDS or price is None:
            continue
        found.append({
            "id": info.slug, "name": info.display_name, "kind": info.kind,
            "price": price_json(price), "max_output_tokens": info.max_output_tokens,
            "max_video_seconds": info.max_video_seconds, "stream": info.supports_streaming,
        })  # fmt: skip
    return sorted(found, key=lambda m: (KINDS.index(m["kind"]), m["name"]))


@never_cache
@login_required
def playground(request: HttpRequest) -> HttpResponse:
    if request.user.suspended_at is not None:
        return render(request, "suspended.html", status=403)
    config = {
        "token": keys.playground_token(request.user),
        "models": _models(request.user),
        "chat_max_tokens": CHAT_MAX_TOKENS,
        "strings": _strings(),
    }
    response = render(request, "gateway/playground.html", {"config": config})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token(request: HttpRequest) -> HttpResponse:
    """A fresh token when the page's has expired (session and CSRF checked)."""
    response = JsonResponse({"token": keys.playground_token(request.user)})
    response["Cache-Control"] = "no-store"
    return response
