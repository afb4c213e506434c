"""A lean ASGI handler for /v1: the same URLconf and views, without the page middleware.

Sessions, CSRF, messages, allauth and WhiteNoise do nothing for an API call, and WhiteNoise
is synchronous, which would cost every request a hop through a thread. /v1 views are
csrf_exempt and authenticate by API key, so they are correct under either handler."""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response


class GatewayASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        get_response = self._get_response_async if is_async else self._get_response
        self._middleware_chain = convert_exception_to_response(get_response)
