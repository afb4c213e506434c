"""URLs of an API-only process (reapi/settings_api.py): /v1 itself is the gateway's ASGI app
(reapi/asgi.py); Django serves only what a load balancer, Prometheus and an asset link need.
Anything else is a page, served by the `all` processes: here it is a 404 in the API's shape."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from gateway import web as gateway_web
from gateway.errors import ApiError
from reapi import ops

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics_view, name="metrics"),
    path("files/<uuid:asset_id>", gateway_web.file, name="asset-file"),
]


def _answer(error: ApiError) -> JsonResponse:
    return JsonResponse(error.openai_body(), status=error.status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    message = f"Invalid URL ({request.method} {request.path}): this server only serves the API."
    return _answer(ApiError(404, message, code="unknown_url"))


def server_error(request: HttpRequest) -> JsonResponse:
    message = "The server had an error processing your request."
    return _answer(ApiError(500, message, type="server_error", code="server_error"))


handler404 = not_found
handler500 = server_error
