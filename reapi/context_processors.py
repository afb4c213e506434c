from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

OPERATOR_NAME = "reAPI"


def site_url(request: HttpRequest) -> str:
    """The public base URL: SITE_URL, or without one the address this page was reached at."""
    return settings.SITE_URL or request.build_absolute_uri("/").rstrip("/")


def site(request: HttpRequest) -> dict[str, object]:
    """The site's name and look: a white-label brand's on its domain (brands/), else ours."""
    user = getattr(request, "user", None)
    suspended = bool(user and user.is_authenticated and user.suspended_at is not None)
    brand = getattr(request, "brand", None)
    return {
        "SITE_NAME": brand.name if brand else OPERATOR_NAME,
        "SITE_URL": site_url(request),
        "ACCOUNT_SUSPENDED": suspended,
        "BRAND": brand,
        "OPERATOR_NAME": OPERATOR_NAME,
    }
