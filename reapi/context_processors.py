from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site_url(request: HttpRequest) -> str:
    """The public base URL: SITE_URL, or without one the address this page was reached at."""
    return settings.SITE_URL or request.build_absolute_uri("/").rstrip("/")


def site(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    suspended = bool(user and user.is_authenticated and user.suspended_at is not None)
    return {"SITE_NAME": "reAPI", "SITE_URL": site_url(request), "ACCOUNT_SUSPENDED": suspended}
