from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    # Without a configured public URL, show the address this page was reached at.
    site_url = settings.SITE_URL or request.build_absolute_uri("/").rstrip("/")
    user = getattr(request, "user", None)
    suspended = bool(user and user.is_authenticated and user.suspended_at is not None)
    return {"SITE_NAME": "reAPI", "SITE_URL": site_url, "ACCOUNT_SUSPENDED": suspended}
