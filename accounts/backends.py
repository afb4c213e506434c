"""Sign-in limited to the site the request came to: a white-label brand's customers on the
brand's domain, the operator's own customers (and staff) on the operator's (brands/).

An email address is unique per site, not per installation: the same person may be a
customer of two brands, with two accounts and two passwords. So every lookup by email here
names the site first."""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend
from allauth.account.internal.userkit import filter_users_by_email
from allauth.core import context
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.models import User


def site_brand_id(request: HttpRequest | None = None) -> int | None:
    """The brand whose site this request is on (None: ours). Without a request, allauth's
    current one (its middleware keeps it), else ours."""
    request = request if request is not None else context.request
    brand = getattr(request, "brand", None)
    return brand.id if brand else None


class BrandModelBackend(ModelBackend):
    """Django's password check (the staff admin's login), by email on this site only."""

    def authenticate(self, request, username=None, password=None, **kwargs):  # noqa: ANN001
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = User.objects.filter(email=username, brand_id=site_brand_id(request)).first()
        if user is None:
            User().set_password(password)  # the same time as a wrong password
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


class BrandAuthenticationBackend(AuthenticationBackend):
    """allauth's email login, choosing among the accounts with this email the one of this
    site."""

    def _authenticate(self, request, **credentials):  # noqa: ANN001
        self._brand_id = site_brand_id(request)
        return super()._authenticate(request, **credentials)

    def _authenticate_by_email(self, email: str, password: str):  # noqa: ANN202
        users = filter_users_by_email(email, prefer_verified=True, for_login=True)
        for user in users:
            if user.brand_id == self._brand_id and self._check_password(user, password):
                return user
        return None
