"""Generated files kept for their owner: stored in the default storage (local disk on the
embedded default, S3/R2 in production), reachable only through signed links that expire,
deleted after ASSET_RETENTION_DAYS.

A link is `/files/<asset id>?expires=<unix time>&signature=<hex>`, the signature an HMAC of
the id and the expiry under a key derived from SECRET_KEY: whoever holds a link may fetch
the file until it expires (as with OpenAI's and S3's own links), nobody can make one. An
expired link answers 403; a file past its retention answers 410. With S3/R2 the link
redirects to a presigned URL of the bucket that lives a few minutes; on local disk the file
is served by Django.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from gateway.models import Asset

SALT = "reapi.assets.link"
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


def store(*, user_id: int, request_id: str, data: bytes, kind: str, content_type: str) -> Asset:
    """Save the bytes and their row; the file lives until now + ASSET_RETENTION_DAYS."""
    asset_id = uuid.uuid4()
    extension = EXTENSIONS.get(content_type, "bin")
    name = default_storage.save(f"assets/{user_id}/{asset_id}.{extension}", ContentFile(data))
    now = timezone.now()
    return Asset.objects.create(
        id=asset_id,
        user_id=user_id,
        request_id=request_id,
        kind=kind,
        content_type=content_type,
        size_bytes=len(data),
        storage_name=name,
        created_at=now,
        expires_at=now + timedelta(days=settings.ASSET_RETENTION_DAYS),
    )


def _signature(asset_id: str, expires: int) -> str:
    return salted_hmac(SALT, f"{asset_id}:{expires}", algorithm="sha256").hexdigest()


def signed_path(asset: Asset, *, ttl_s: int | None = None, now: float | None = None) -> str:
    """The link's path and query; never valid past the asset's own expiry."""
    ttl = settings.ASSET_LINK_TTL_S if ttl_s is None else ttl_s
    expires = int((time.time() if now is None else now) + ttl)
    expires = min(expires, int(asset.expires_at.timestamp()))
    query = urlencode({"expires": expires, "signature": _signature(str(asset.id), expires)})
    return f"/files/{asset.id}?{query}"


def public_base(host: str | None, *, secure: bool, brand_domain: str | None = None) -> str:
    """SITE_URL when set (production), else the host the request came to. A white-label
    brand's customer gets links on the brand's own domain (never ours) in production."""
    if settings.SITE_URL:
        return f"https://{brand_domain}" if brand_domain else settings.SITE_URL
    return f"{'https' if secure else 'http'}://{host or '127.0.0.1'}"


class LinkError(Exception):
    """Why a link cannot be served; `status` and the message are safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def resolve(asset_id: str, expires: str | None, signature: str | None) -> Asset:
    """Check a link: its signature, its expiry, then the file's retention."""
    try:
        expires_at = int(expires or "")
    except ValueError:
        raise LinkError(403, "This link is not valid.") from None
    if not signature or not constant_time_compare(signature, _signature(asset_id, expires_at)):
        raise LinkError(403, "This link is not valid.")
    if expires_at < time.time():
        raise LinkError(403, "This link has expired. Ask the API for a new one.")
    asset = Asset.objects.filter(pk=asset_id).first()
    if asset is None:
        raise LinkError(404, "No such file.")
    if asset.deleted_at is not None or asset.expires_at <= timezone.now():
        raise LinkError(
            410,
            f"This file was deleted: generated files are kept {settings.ASSET_RETENTION_DAYS} "
            "days.",
        )
    return asset


def delete(asset: Asset, *, at: datetime | None = None) -> None:
    try:
        default_storage.delete(asset.storage_name)
    except FileNotFoundError:
        pass  # already gone: the row still records when
    Asset.objects.filter(pk=asset.pk, deleted_at__isnull=True).update(
        deleted_at=at or timezone.now()
    )


def delete_expired(*, now: datetime | None = None, batch: int = 500) -> int:
    """Delete every file past its retention (the periodic task); returns how many."""
    now = now or timezone.now()
    count = 0
    while True:
        expired = list(Asset.objects.filter(expires_at__lte=now, deleted_at__isnull=True)[:batch])
        for asset in expired:
            delete(asset, at=now)
        count += len(expired)
        if len(expired) < batch:
            return count
