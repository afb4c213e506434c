"""API keys: creation, rotation, revocation and authentication.

The raw secret exists only in the return value of `create` / `rotate`; the database keeps its
SHA-256 and a short prefix. Lookups are cached in each process for settings.API_KEY_CACHE_S
seconds (5 by default); a revocation, rotation, suspension, block or account closure takes
effect at once in the process that made it and within about a second everywhere else (a
shared epoch counter, read at most once a second, clears every process's cache). The cache is
per process on purpose: a shared-cache round trip cost more than the rest of authentication.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.core.cache import cache as shared_cache
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, User

KEY_PREFIX = "sk-reapi-"
# A white-label brand's customers get keys that do not name us (brands/).
WHITE_LABEL_KEY_PREFIX = "sk-"
PLAYGROUND_PREFIX = "pgt_"  # a playground token, not a key: signed, short-lived
PLAYGROUND_SALT = "reapi.playground-token"
EPOCH_KEY = "keys:epoch"  # in the shared cache; bumped whenever a key's lookup must change
EPOCH_CHECK_S = 1.0
TOUCH_INTERVAL_S = 60


class KeyAuthError(Exception):
    """Base for key authentication failures; the message is safe to show the client."""

    code = "invalid_api_key"


class InvalidKey(KeyAuthError):
    pass


class KeyRevoked(KeyAuthError):
    code = "api_key_revoked"


class KeyExpired(KeyAuthError):
    code = "api_key_expired"


class AccountSuspended(KeyAuthError):
    code = "account_suspended"


class KeySuspended(KeyAuthError):
    code = "api_key_suspended"


@dataclass(frozen=True)
class Limits:
    """The rate limits a request must pass: the key's own (None: none) and its account's
    (staff-set or the site default)."""

    key_rpm: int | None
    key_tpm: int | None
    key_concurrency: int | None
    account_rpm: int
    account_tpm: int
    account_concurrency: int


@dataclass(frozen=True)
class AuthenticatedKey:
    """What the request path needs to know about a key, cheap to cache."""

    id: int
    owner_id: int
    prefix: str
    allowed_models: tuple[str, ...]
    spend_cap_micros: int | None
    limits: Limits
    expires_at: datetime | None
    blocked_until: datetime | None = None  # the account's automatic temporary block
    brand_id: int | None = None  # a white-label brand's customer (brands/); None: ours

    def allows_model(self, slug: str) -> bool:
        return not self.allowed_models or slug in self.allowed_models


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _display_prefix(raw: str) -> str:
    """The key's prefix and 6 characters of its secret: enough to tell keys apart."""
    head = KEY_PREFIX if raw.startswith(KEY_PREFIX) else WHITE_LABEL_KEY_PREFIX
    return raw[: len(head) + 6]


def _new_secret(owner: User | None = None) -> str:
    white_label = owner is not None and owner.brand_id is not None
    return (WHITE_LABEL_KEY_PREFIX if white_label else KEY_PREFIX) + secrets.token_urlsafe(32)


class _LocalCache:
    """A small time-bounded dict: hashed secret → AuthenticatedKey or a failure code."""

    MAX_ENTRIES = 50_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, object]] = {}
        self._epoch: object = None
        self._checked_at = 0.0

    def _sync(self) -> None:
        """Drop every entry when another process changed a key (at most one shared-cache
        read a second): so a suspension or revocation reaches every process within ~1 s."""
        now = time.monotonic()
        if now - self._checked_at < EPOCH_CHECK_S:
            return
        self._checked_at = now
        epoch = shared_cache.get(EPOCH_KEY, 0)
        if epoch != self._epoch:
            self._entries.clear()
            self._epoch = epoch

    def get(self, name: str) -> object | None:
        self._sync()
        entry = self._entries.get(name)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def set(self, name: str, value: object, ttl_s: float) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()  # simplest bound; a refill costs one query per key
        self._entries[name] = (time.monotonic() + ttl_s, value)

    def delete(self, name: str) -> None:
        self.delete_many([name])

    def delete_many(self, names: list[str]) -> None:
        for name in names:
            self._entries.pop(name, None)
        _bump_epoch()

    def clear(self) -> None:
        self._entries.clear()
        self._epoch = None
        self._checked_at = 0.0


def _bump_epoch() -> None:
    try:
        shared_cache.incr(EPOCH_KEY)
    except ValueError:
        shared_cache.add(EPOCH_KEY, 1, None)


cache = _LocalCache()


def _cache_key(hashed: str) -> str:
    return hashed


def create(
    owner: User,
    *,
    name: str,
    expires_at: datetime | None = None,
    allowed_models: list[str] | None = None,
    spend_cap_micros: int | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    concurrency_limit: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for `owner` and return it with its raw secret (shown once, never stored)."""
    raw = _new_secret(owner)
    key = ApiKey.objects.create(
        owner=owner,
        name=name,
        prefix=_display_prefix(raw),
        hashed_secret=hash_secret(raw),
        expires_at=expires_at,
        allowed_models=list(allowed_models or []),
        spend_cap_micros=spend_cap_micros,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        concurrency_limit=concurrency_limit,
    )
    return key, raw


def revoke(key: ApiKey) -> None:
    """Revoke `key` (idempotent) and drop its cached lookup."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    cache.delete(_cache_key(key.hashed_secret))


def rotate(key: ApiKey) -> tuple[ApiKey, str]:
    """Issue a new secret with the same settings and revoke the old one, atomically."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is not None:
            raise KeyRevoked("This key is already revoked.")
        new_key, raw = create(
            locked.owner,
            name=locked.name,
            expires_at=locked.expires_at,
            allowed_models=locked.allowed_models,
            spend_cap_micros=locked.spend_cap_micros,
            rpm_limit=locked.rpm_limit,
            tpm_limit=locked.tpm_limit,
            concurrency_limit=locked.concurrency_limit,
        )
        revoke(locked)
    return new_key, raw


def forget_cached(key: ApiKey) -> None:
    """Drop a key's cached lookup after its settings changed."""
    cache.delete(_cache_key(key.hashed_secret))


def forget_cached_for(owner: User) -> None:
    """Drop the cached lookups of every key of `owner` (after a suspension, say)."""
    hashes = ApiKey.objects.filter(owner=owner).values_list("hashed_secret", flat=True)
    cache.delete_many([_cache_key(h) for h in hashes])


def revoke_all_for(owner: User) -> int:
    hashes = list(
        ApiKey.objects.filter(owner=owner, revoked_at__isnull=True).values_list(
            "hashed_secret", flat=True
        )
    )
    count = ApiKey.objects.filter(owner=owner, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    cache.delete_many([_cache_key(h) for h in hashes])
    return count


def _load(hashed: str) -> AuthenticatedKey | str:
    """Read the key from the database: an AuthenticatedKey, or the failure code to cache."""
    row = (
        ApiKey.objects.filter(hashed_secret=hashed)
        .select_related("owner", "owner__plan")
        .only(
            "id",
            "prefix",
            "revoked_at",
            "expires_at",
            "allowed_models",
            "spend_cap_micros",
            "rpm_limit",
            "tpm_limit",
            "concurrency_limit",
            "suspended_at",
            "owner__id",
            "owner__is_active",
            "owner__suspended_at",
            "owner__closed_at",
            "owner__blocked_until",
            "owner__brand_id",
            "owner__rpm_limit",
            "owner__tpm_limit",
            "owner__concurrency_limit",
            "owner__plan__rpm_limit",
            "owner__plan__tpm_limit",
            "owner__plan__concurrency_limit",
        )
        .first()
    )
    if row is None:
        return InvalidKey.code
    if row.revoked_at is not None:
        return KeyRevoked.code
    owner = row.owner
    if not owner.is_active or owner.closed_at is not None:
        return KeyRevoked.code
    if owner.suspended_at is not None:
        return AccountSuspended.code
    if row.suspended_at is not None:
        return KeySuspended.code
    plan = owner.plan  # staff's limits first, then the plan's, then the site's
    limits = Limits(
        key_rpm=row.rpm_limit,
        key_tpm=row.tpm_limit,
        key_concurrency=row.concurrency_limit,
        account_rpm=owner.rpm_limit or (plan and plan.rpm_limit) or settings.RATE_LIMIT_ACCOUNT_RPM,
        account_tpm=owner.tpm_limit or (plan and plan.tpm_limit) or settings.RATE_LIMIT_ACCOUNT_TPM,
        account_concurrency=owner.concurrency_limit
        or (plan and plan.concurrency_limit)
        or settings.RATE_LIMIT_ACCOUNT_CONCURRENCY,
    )
    return AuthenticatedKey(
        id=row.id,
        owner_id=owner.id,
        prefix=row.prefix,
        allowed_models=tuple(row.allowed_models or ()),
        spend_cap_micros=row.spend_cap_micros,
        limits=limits,
        expires_at=row.expires_at,
        blocked_until=owner.blocked_until,
        brand_id=owner.brand_id,
    )


_FAILURES: dict[str, tuple[type[KeyAuthError], str]] = {
    InvalidKey.code: (InvalidKey, "Incorrect API key provided."),
    KeyRevoked.code: (KeyRevoked, "This API key has been revoked."),
    KeyExpired.code: (KeyExpired, "This API key has expired."),
    AccountSuspended.code: (AccountSuspended, "This account is suspended. Contact support."),
    KeySuspended.code: (KeySuspended, "This API key is suspended. Contact support."),
}


def playground_key(owner: User) -> ApiKey:
    """The account's playground key, made on first use; nobody ever holds its secret."""
    key = ApiKey.objects.filter(
        owner=owner, purpose=ApiKey.Purpose.PLAYGROUND, revoked_at__isnull=True
    ).first()
    if key is None:
        raw = _new_secret()  # thrown away: the key is reachable only through tokens
        key = ApiKey.objects.create(
            owner=owner, name="Playground", purpose=ApiKey.Purpose.PLAYGROUND,
            prefix=PLAYGROUND_PREFIX + "…", hashed_secret=hash_secret(raw),
        )  # fmt: skip
    return key


def playground_token(owner: User) -> str:
    """A token the playground page sends as its bearer credential: it names the account's
    playground key, is signed with SECRET_KEY and lives PLAYGROUND_TOKEN_TTL_S. It is not an
    API key: it cannot be turned into one, and it dies with the session's page."""
    key = playground_key(owner)
    return PLAYGROUND_PREFIX + signing.dumps({"h": key.hashed_secret}, salt=PLAYGROUND_SALT)


def _playground_hash(token: str) -> str:
    try:
        payload = signing.loads(
            token[len(PLAYGROUND_PREFIX) :], salt=PLAYGROUND_SALT,
            max_age=settings.PLAYGROUND_TOKEN_TTL_S,
        )  # fmt: skip
    except signing.SignatureExpired:
        raise InvalidKey("This playground session has expired: reload the page.") from None
    except signing.BadSignature:
        raise InvalidKey(_FAILURES[InvalidKey.code][1]) from None
    return str(payload.get("h", ""))


def authenticate(raw: str | None) -> AuthenticatedKey:
    """Return the key for a raw secret (or a playground token), or raise a KeyAuthError
    subclass saying why not."""
    if raw and raw.startswith(PLAYGROUND_PREFIX) and len(raw) <= 400:
        hashed = _playground_hash(raw)
    elif not raw or not raw.startswith(WHITE_LABEL_KEY_PREFIX) or len(raw) > 200:
        raise InvalidKey(_FAILURES[InvalidKey.code][1])
    else:
        hashed = hash_secret(raw)
    found = cache.get(_cache_key(hashed))
    if found is None:
        found = _load(hashed)
        cache.set(_cache_key(hashed), found, settings.API_KEY_CACHE_S)
    if isinstance(found, str):
        exc, message = _FAILURES[found]
        raise exc(message)
    if found.expires_at is not None and found.expires_at <= timezone.now():
        raise KeyExpired(_FAILURES[KeyExpired.code][1])
    touch(found.id)
    return found


_last_touch: dict[int, float] = {}


def touch(key_id: int) -> None:
    """Record that a key was used, writing at most once per TOUCH_INTERVAL_S per process."""
    now = time.monotonic()
    if now - _last_touch.get(key_id, -TOUCH_INTERVAL_S * 2) < TOUCH_INTERVAL_S:
        return
    _last_touch[key_id] = now
    ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())
