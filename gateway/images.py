"""Images after the upstream answered: their bytes (decoded, or downloaded when an upstream
answers with its own link), and the answer in OpenAI's shape, with our own signed links for
`response_format: "url"` (never the upstream's)."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import aiohttp
from asgiref.sync import sync_to_async

from gateway import assets, http, sniff
from gateway.models import Asset

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=5)


async def _download(url: str) -> bytes | None:
    if not url.startswith(("https://", "http://")):
        return None
    try:
        async with http.session().get(url, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status != 200:
                return None
            data = await response.content.read(MAX_DOWNLOAD_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError):
        return None
    return data if 0 < len(data) <= MAX_DOWNLOAD_BYTES else None


async def image_bytes(items: list[dict[str, Any]]) -> list[bytes]:
    """The images the upstream delivered, in order; an item we cannot read is not delivered
    (and not charged)."""
    delivered = []
    for item in items:
        data: bytes | None = None
        if isinstance(item.get("b64_json"), str):
            try:
                data = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                data = None
        elif isinstance(item.get("url"), str):
            data = await _download(item["url"])
        if data:
            delivered.append(data)
    return delivered


async def answer(
    images: list[bytes],
    *,
    response_format: str,
    user_id: int,
    request_id: str,
    base_url: str,
) -> tuple[list[dict[str, Any]], str]:
    """The `data` list of the answer (base64, or links to the stored files), and what a
    replay of the request may give again ("assets:<id>,<id>"; nothing for base64)."""
    if response_format == "b64_json":
        return [{"b64_json": base64.b64encode(data).decode("ascii")} for data in images], ""
    stored = await sync_to_async(_store_all, thread_sensitive=False)(images, user_id, request_id)
    links = [{"url": base_url + assets.signed_path(asset)} for asset in stored]
    return links, "assets:" + ",".join(str(asset.pk) for asset in stored)


def _store_all(images: list[bytes], user_id: int, request_id: str) -> list[Asset]:
    return [
        assets.store(user_id=user_id, request_id=request_id, data=data, kind=Asset.Kind.IMAGE,
                     content_type=sniff.image_type(data) or "application/octet-stream")
        for data in images
    ]  # fmt: skip


def body(data: list[dict[str, Any]], *, requested: int, charged_text: str) -> dict[str, Any]:
    return {
        "created": int(time.time()),
        "data": data,
        "usage": {"images": len(data), "images_requested": requested,
                  "credits_charged": charged_text},
    }  # fmt: skip
