"""`Idempotency-Key` on every billable POST: a retry of the same request within
IDEMPOTENCY_TTL_S is charged once.

- The first request with a key claims it (one INSERT, unique per account and key) with a
  hash of the request (method, path, body). A second request with the same key and another
  body gets 409 `idempotency_key_reused`; one while the first is still running gets 409
  `idempotency_key_in_progress`.
- Once the first has finished, a retry gets its result again where the result is ours to
  keep: a video job (its current state), stored images (fresh signed links to the same
  files). Answers that are content (a chat completion, an embedding, base64 images) are
  never stored (DESIGN.md), so their retry gets 409 `idempotency_key_used` naming the first
  request and what it cost; it is not run or charged again.
- A first request that was charged nothing (refused, failed upstream) frees its key, so the
  client can retry with the same key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.errors import ApiError
from gateway.models import IdempotencyKey
from reapi.money import credits_text

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Requested:
    """The key a client sent and the fingerprint of its request."""

    key: str
    fingerprint: str


def from_headers(headers: dict[str, str], method: str, path: str, body: bytes) -> Requested | None:
    key = headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            400,
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            param="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    digest = hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()
    return Requested(key, digest)


class Replay(Exception):
    """The request was made before: answer with what it produced, run nothing."""

    def __init__(self, record: IdempotencyKey) -> None:
        super().__init__(record.key)
        self.record = record


def claim(owner_id: int, requested: Requested, request_id: str) -> None:
    """Take the key for this request, or raise Replay or a 409 saying why not."""
    now = timezone.now()
    expires = now + timedelta(seconds=settings.IDEMPOTENCY_TTL_S)
    for _ in range(2):
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    user_id=owner_id, key=requested.key, fingerprint=requested.fingerprint,
                    request_id=request_id, created_at=now, expires_at=expires,
                )  # fmt: skip
            return
        except IntegrityError:
            found = IdempotencyKey.objects.filter(user_id=owner_id, key=requested.key).first()
            if found is None:
                continue  # freed meanwhile: try again
            if found.expires_at <= now:
                IdempotencyKey.objects.filter(pk=found.pk).delete()
                continue
            if found.fingerprint != requested.fingerprint:
                raise ApiError(
                    409,
                    "This Idempotency-Key was already used for a different request. Use a new "
                    "key for a new request.",
                    code="idempotency_key_reused",
                    type="idempotency_error",
                ) from None
            if found.state == IdempotencyKey.State.IN_PROGRESS:
                raise ApiError(
                    409,
                    "A request with this Idempotency-Key is still being processed. Retry "
                    "after it finishes.",
                    code="idempotency_key_in_progress",
                    type="idempotency_error",
                    headers={"retry-after": "1"},
                ) from None
            raise Replay(found) from None
    raise ApiError(409, "This Idempotency-Key is busy; retry.", code="idempotency_key_in_progress",
                   type="idempotency_error")  # fmt: skip


def done(owner_id: int, requested: Requested | None, *, charged: int, result: str = "") -> None:
    """The first request finished: keep the key (with a reference to a result we may give
    again) if anything was charged, free it otherwise."""
    if requested is None:
        return
    keyed = IdempotencyKey.objects.filter(user_id=owner_id, key=requested.key)
    if charged <= 0 and not result:
        keyed.delete()
        return
    keyed.update(state=IdempotencyKey.State.DONE, charged_micros=charged, result=result[:500])


def used(record: IdempotencyKey) -> ApiError:
    """What a retry of a finished request whose answer we did not keep is told."""
    return ApiError(
        409,
        f"A request with this Idempotency-Key already completed (request {record.request_id}, "
        f"{credits_text(record.charged_micros)} credits). Its answer is not stored (we keep no "
        "prompts or outputs), and it was not run or charged again.",
        code="idempotency_key_used",
        type="idempotency_error",
        headers={"x-original-request-id": record.request_id},
    )


def delete_expired() -> int:
    return IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()[0]
