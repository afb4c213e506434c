"""Sign-in limited to the site the request came to: a white-label brand's customers on the
brand's domain, the operator's own customers (and staff) on the operator's (brands/)."""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest


def _same_site(request: HttpRequest | None, user: object) -> bool:
    brand = getattr(request, "brand", None)
    return getattr(user, "brand_id", None) == (brand.id if brand else None)


class BrandModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):  # noqa: ANN001
        user = super().authenticate(request, username=username, password=password, **kwargs)
        return user if user is not None and _same_site(request, user) else None


class BrandAuthenticationBackend(AuthenticationBackend):
    def authenticate(self, request, **credentials):  # noqa: ANN001
        user = super().authenticate(request, **credentials)
        return user if user is not None and _same_site(request, user) else None
