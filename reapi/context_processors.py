from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

OPERATOR_NAME = "reAPI"


def site_url(request: HttpRequest) -> str:
    """The public base URL: SITE_URL, or without one the address this page was reached at
    (always that on a white-label brand's domain)."""
    if settings.SITE_URL and getattr(request, "brand", None) is None:
        return settings.SITE_URL
    return request.build_absolute_uri("/").rstrip("/")


def site(request: HttpRequest) -> dict[str, object]:
    """The site's name and look: a white-label brand's on its domain (brands/), else ours."""
    user = getattr(request, "user", None)
    suspended = bool(user and user.is_authenticated and user.suspended_at is not None)
    brand = getattr(request, "brand", None)
    slug = brand.slug if brand else "reapi"
    return {
        "SITE_NAME": brand.name if brand else OPERATOR_NAME,
        "SITE_URL": site_url(request),
        "ACCOUNT_SUSPENDED": suspended,
        "BRAND": brand,
        "OPERATOR_NAME": OPERATOR_NAME,
        # What the docs' code calls the site and its key (REAPI_API_KEY, ACME_API_KEY, ...).
        "SITE_SLUG": slug,
        "KEY_ENV": slug.upper().replace("-", "_") + "_API_KEY",
    }
