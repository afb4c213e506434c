"""Which site a page request is for: `request.brand` is the enabled brand whose domain the
request came to, or None for the operator's own site."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

from brands import selectors


class BrandMiddleware:
    """Also keeps sessions inside their site: a user signed in as another site's customer
    (a brand's on ours, ours on a brand's, or another brand's) counts as signed out here.
    Cookies are per host already; this holds even where an operator shares a cookie domain."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        brand = selectors.for_host(request.get_host().rsplit(":", 1)[0])
        request.brand = brand
        user = request.user
        if user.is_authenticated and user.brand_id != (brand.id if brand else None):
            request.user = AnonymousUser()
        return self.get_response(request)
