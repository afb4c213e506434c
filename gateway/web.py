"""The one page-side view of the gateway: a generated file behind a signed link."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from gateway import assets

PRESIGNED_S = 300  # a bucket link we redirect to lives this long
IN_MEMORY_BYTES = 16 * 1024 * 1024


@require_GET
def file(request: HttpRequest, asset_id: str) -> HttpResponse:
    try:
        asset = assets.resolve(
            str(asset_id), request.GET.get("expires"), request.GET.get("signature")
        )
    except assets.LinkError as refused:
        body = {"error": {"message": str(refused), "type": "invalid_request_error",
                          "code": {403: "link_invalid", 404: "not_found",
                                   410: "file_expired"}[refused.status]}}  # fmt: skip
        return JsonResponse(body, status=refused.status)
    if hasattr(default_storage, "bucket_name"):  # S3 / R2: the bucket serves the bytes
        return redirect(default_storage.url(asset.storage_name, expire=PRESIGNED_S))
    with default_storage.open(asset.storage_name, "rb") as handle:
        if asset.size_bytes <= IN_MEMORY_BYTES:  # images: one read, no sync iterator
            response = HttpResponse(handle.read(), content_type=asset.content_type)
        else:
            response = FileResponse(
                default_storage.open(asset.storage_name, "rb"), content_type=asset.content_type
            )
    response["Cache-Control"] = "private, max-age=3600"
    return response
