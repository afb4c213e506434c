"""The synchronous part of the request path: authenticate, resolve, reserve; then settle
and record. Each runs in one thread hop from the async views, so the event loop never
waits on the database (DESIGN.md, the request path, steps 1–4 and 6–7)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from accounts import keys
from accounts.keys import AuthenticatedKey
from billing import ledger
from billing.models import CreditAccount, Hold
from brands import selectors as brands
from brands.selectors import BrandInfo
from catalog import selectors
from catalog.models import Price
from catalog.pricing import TokenUsage, token_cost_micros, token_hold_micros
from catalog.selectors import ModelInfo
from gateway import idempotency, limits, metrics, tokens
from gateway import usage as usage_rows
from gateway.errors import ApiError
from gateway.models import UpstreamFailure, UsageRecord
from gateway.schemas import ChatRequest, EmbeddingsRequest, ImageRequest, VideoRequest
from reapi.money import credits_text

logger = logging.getLogger(__name__)
access_log = logging.getLogger("reapi.access")  # one line per admitted request


def _connection_ready() -> None:
    """Drop this thread's database connection if it broke or outlived DB_CONN_MAX_AGE.

    Django's close_old_connections() would also schedule a health-check query for every
    request; we only pay for it when an error has actually occurred."""
    if connection.connection is None:
        return
    if connection.errors_occurred or (
        connection.close_at is not None and time.monotonic() >= connection.close_at
    ):
        close_old_connections()


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex


def authenticate(raw_key: str | None) -> AuthenticatedKey:
    try:
        return keys.authenticate(raw_key)
    except (keys.AccountSuspended, keys.KeySuspended) as exc:
        raise ApiError(403, str(exc), type="permission_denied", code=exc.code) from None
    except keys.KeyAuthError as exc:
        if not raw_key:
            raise ApiError(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
                "or 'x-api-key: <key>'.",
                code="missing_api_key",
            ) from None
        raise ApiError(401, str(exc), code=exc.code) from None


def brand_of(key: AuthenticatedKey) -> BrandInfo | None:
    """A white-label customer's brand (None: the operator's own customer). A brand staff
    have switched off refuses its customers' calls rather than serve them as ours."""
    if key.brand_id is None:
        return None
    brand = brands.get(key.brand_id)
    if brand is None or not brand.enabled:
        raise ApiError(403, "This service is not available.", type="permission_denied",
                       code="service_disabled")  # fmt: skip
    return brand


def resolve_model(key: AuthenticatedKey, slug: str, *, kind: str | tuple[str, ...]) -> ModelInfo:
    model = selectors.get_model(slug)
    kinds = (kind,) if isinstance(kind, str) else kind
    brand = brand_of(key)
    if model is None or model.kind not in kinds or (brand and not brand.offers(slug)):
        raise ApiError(
            404,
            f"The model '{slug}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    if not key.allows_model(slug):
        raise ApiError(
            403,
            f"This API key is not allowed to use the model '{slug}'.",
            type="permission_denied",
            param="model",
            code="model_not_allowed",
        )
    return model


@dataclass
class Admission:
    request_id: str
    key: AuthenticatedKey
    model: ModelInfo
    price: Price
    hold: Hold
    request: Any  # the parsed request: ChatRequest, EmbeddingsRequest, ...
    endpoint: str
    stream: bool
    grant: limits.Grant | None = None
    # Per-unit requests (images): the price of one unit; None for token-priced requests.
    unit_micros: int | None = None
    # A white-label customer's request: `price` is the brand's, this the operator's, which
    # the reseller pays (the hold's wholesale hold, billing/ledger.py).
    wholesale_price: Price | None = None
    wholesale_unit_micros: int | None = None
    idempotent: idempotency.Requested | None = None
    result_ref: str = ""  # what a replay of this request may give again (idempotency.py)
    started: float = field(default_factory=time.monotonic)

    def set_unit(self, unit_of: Callable[[Price], int | None]) -> None:
        """A per-unit request's unit price, at the customer's and the wholesale price."""
        self.unit_micros = unit_of(self.price)
        if self.wholesale_price is not None:
            self.wholesale_unit_micros = unit_of(self.wholesale_price)


def _invalid(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value")


def _admit_known(
    key: AuthenticatedKey,
    *,
    slug: str,
    kind: str | tuple[str, ...],
    request_id: str,
    stream: bool,
    worst_case: Callable[[ModelInfo, Price], tuple[int, str]],
    hold_ttl_s: int | None = None,
) -> tuple[ModelInfo, Price, Hold, limits.Grant, Price | None]:
    model = resolve_model(key, slug, kind=kind)
    if stream and not model.supports_streaming:
        raise ApiError(
            400,
            f"The model '{slug}' does not support streaming. Send the request without "
            "stream: true.",
            param="stream",
            code="stream_not_supported",
        )
    operator_price = model.price_at(timezone.now())
    if operator_price is None:
        raise ApiError(503, f"The model '{slug}' has no price yet.", type="api_error",
                       code="model_not_priced")  # fmt: skip
    if not model.routes:
        raise ApiError(
            503,
            f"The model '{slug}' is temporarily unavailable.",
            type="api_error",
            code="no_route_available",
        )
    brand = brand_of(key)
    price = brand.price(model, operator_price) if brand else operator_price
    amount, covers = worst_case(model, price)
    amount = max(amount, 1)
    wholesale = None
    if brand is not None:
        wholesale = (_account_id(brand.owner_id), max(worst_case(model, operator_price)[0], 1))
    account = CreditAccount(pk=_account_id(key.owner_id))
    grant = limits.admit(key, request_id)
    try:
        hold = _reserve(
            account, amount, covers, key=key, model=model, request_id=request_id,
            ttl_s=hold_ttl_s, wholesale=wholesale, brand=brand,
        )  # fmt: skip
    except BaseException:
        limits.finish(grant, tokens=0)  # refused after all: free its concurrency slot
        raise
    return model, price, hold, grant, (operator_price if brand else None)


def _reserve(
    account: CreditAccount, amount: int, covers: str, *, key: AuthenticatedKey,
    model: ModelInfo, request_id: str, ttl_s: int | None,
    wholesale: tuple[int, int] | None, brand: BrandInfo | None,
) -> Hold:  # fmt: skip
    try:
        return ledger.reserve(
            account,
            amount_micros=amount,
            request_id=request_id,
            api_key_id=key.id,
            model_slug=model.slug,
            ttl_s=ttl_s,
            wholesale=wholesale,
        )
    except ledger.WholesaleExhausted:
        # The customer can do nothing about it, so not a 402 that reads like their balance.
        support = f" Contact {brand.support_email}." if brand and brand.support_email else ""
        raise ApiError(
            503,
            f"{brand.name if brand else 'This service'} cannot take requests right now. Your "
            f"balance is unchanged.{support}",
            type="api_error",
            code="service_credits_exhausted",
        ) from None
    except ledger.InsufficientCredits:
        raise ApiError(
            402,
            "Insufficient credits: this request may cost up to "
            f"{credits_text(amount, grouping=True)} credits ({covers}). Add credits"
            + (", or lower max_tokens." if model.kind == "chat" else "."),
            type="insufficient_quota",
            code="insufficient_credits",
        ) from None
    except ledger.SpendCapReached:
        raise ApiError(
            402,
            "This API key has reached its spend cap. Raise the cap in Settings → API keys.",
            type="insufficient_quota",
            code="key_spend_cap_reached",
        ) from None


def _admit(
    raw_key: str | None,
    *,
    slug: str,
    kind: str | tuple[str, ...],
    request_id: str,
    endpoint: str,
    request: object,
    stream: bool,
    worst_case: Callable[[ModelInfo, Price], tuple[int, str]],
    hold_ttl_s: int | None = None,
    idempotent: idempotency.Requested | None = None,
) -> Admission:
    """Steps 1–4 for any endpoint: a key, a model of the right kind this key may use, its
    price in force, and a hold for `worst_case(model, price)` → (micro-credits, what it
    covers, for the 402 message)."""
    _connection_ready()
    key = authenticate(raw_key)
    if idempotent is not None:
        idempotency.claim(key.owner_id, idempotent, request_id)  # may raise Replay or 409
    try:
        model, price, hold, grant, wholesale_price = _admit_known(
            key, slug=slug, kind=kind, request_id=request_id, stream=stream,
            worst_case=worst_case, hold_ttl_s=hold_ttl_s,
        )  # fmt: skip
    except ApiError:
        limits.note_refused(key.owner_id)
        idempotency.done(key.owner_id, idempotent, charged=0)  # refused: the key is free
        raise
    except BaseException:
        idempotency.done(key.owner_id, idempotent, charged=0)  # never left "in progress"
        raise
    return Admission(
        request_id=request_id,
        key=key,
        model=model,
        price=price,
        hold=hold,
        request=request,
        endpoint=endpoint,
        stream=stream,
        grant=grant,
        idempotent=idempotent,
        wholesale_price=wholesale_price,
    )


def admit_chat(
    raw_key: str | None,
    chat: ChatRequest,
    *,
    request_id: str,
    endpoint: str = "chat.completions",
    idempotent: idempotency.Requested | None = None,
) -> Admission:
    """Admit a chat request; `endpoint` names the client's API in the usage row
    (`chat.completions`, `responses`, `messages`)."""

    def worst_case(model: ModelInfo, price: Price) -> tuple[int, str]:
        cap = model.max_output_tokens or tokens.DEFAULT_MAX_OUTPUT_TOKENS
        if chat.max_output_tokens is not None and chat.max_output_tokens > cap:
            raise _invalid(
                "max_tokens",
                f"max_tokens is too large: {chat.max_output_tokens}. This model supports at "
                f"most {cap} completion tokens.",
            )
        output_tokens = (chat.max_output_tokens or cap) * chat.n
        amount = token_hold_micros(
            price,
            input_tokens=tokens.prompt_tokens_upper_bound(chat),
            max_output_tokens=output_tokens,
        )
        return amount, f"the prompt plus {output_tokens} output tokens"

    return _admit(
        raw_key,
        slug=chat.model,
        kind="chat",
        request_id=request_id,
        endpoint=endpoint,
        request=chat,
        stream=chat.stream,
        worst_case=worst_case,
        idempotent=idempotent,
    )


def admit_image(
    raw_key: str | None,
    image: ImageRequest,
    *,
    request_id: str,
    endpoint: str = "images.generations",
    idempotent: idempotency.Requested | None = None,
) -> Admission:
    def worst_case(model: ModelInfo, price: Price) -> tuple[int, str]:
        if model.max_images is not None and image.n > model.max_images:
            raise _invalid(
                "n",
                f"n is too large: {image.n}. The model '{model.slug}' makes at most "
                f"{model.max_images} images per request.",
            )
        each = price.image_price(size=image.size, quality=image.quality)
        if each is None:
            raise _invalid(
                "size",
                f"The model '{model.slug}' does not offer size {image.size} at quality "
                f"{image.quality}.",
            )
        return each * image.n, f"{image.n} image{'s' if image.n > 1 else ''}"

    admission = _admit(
        raw_key,
        slug=image.model,
        kind="image",
        request_id=request_id,
        endpoint=endpoint,
        request=image,
        stream=False,
        worst_case=worst_case,
        idempotent=idempotent,
    )
    admission.set_unit(lambda price: price.image_price(size=image.size, quality=image.quality))
    return admission


def admit_video(
    raw_key: str | None,
    video: VideoRequest,
    *,
    request_id: str,
    idempotent: idempotency.Requested | None = None,
) -> Admission:
    """The hold is the whole job's price (seconds at the size's per-second price); it lives
    until the job's deadline, past which the job fails and is refunded. A video model makes
    a video (from an optional image); a tool model (Enhance Video) remakes the video it is
    given, priced by that video's length."""

    def worst_case(model: ModelInfo, price: Price) -> tuple[int, str]:
        if model.kind == "tool" and not video.reference_is_video:
            raise _invalid("input_reference", f"The model '{model.slug}' works on a video: "
                           "send it as 'input_reference' (an MP4 or MOV file).")  # fmt: skip
        if model.kind == "video" and video.reference_is_video:
            raise _invalid("input_reference", f"The model '{model.slug}' takes an image as "
                           "'input_reference', not a video.")  # fmt: skip
        if model.max_video_seconds is not None and video.seconds > model.max_video_seconds:
            if video.reference_is_video:
                raise _invalid("input_reference", f"The input video lasts {video.seconds} s; "
                               f"the model '{model.slug}' takes videos of at most "
                               f"{model.max_video_seconds} seconds.")  # fmt: skip
            raise _invalid(
                "seconds",
                f"seconds is too large: {video.seconds}. The model '{model.slug}' makes videos "
                f"of at most {model.max_video_seconds} seconds.",
            )
        each = price.video_price_per_second(resolution=video.resolution)
        if each is None:
            raise _invalid(
                "size",
                f"The model '{model.slug}' does not offer size {video.size} ({video.resolution}).",
            )
        return each * video.seconds, f"{video.seconds} s of {video.resolution} video"

    admission = _admit(
        raw_key,
        slug=video.model,
        kind=("video", "tool"),
        request_id=request_id,
        endpoint="videos",
        request=video,
        stream=False,
        worst_case=worst_case,
        idempotent=idempotent,
        hold_ttl_s=settings.VIDEO_JOB_TIMEOUT_S + 15 * 60,
    )
    admission.set_unit(lambda price: price.video_price_per_second(resolution=video.resolution))
    return admission


def admit_embeddings(
    raw_key: str | None,
    embeddings: EmbeddingsRequest,
    *,
    request_id: str,
    idempotent: idempotency.Requested | None = None,
) -> Admission:
    def worst_case(model: ModelInfo, price: Price) -> tuple[int, str]:
        input_tokens = tokens.embedding_tokens_upper_bound(embeddings)
        amount = token_hold_micros(price, input_tokens=input_tokens, max_output_tokens=0)
        return amount, f"up to {input_tokens} input tokens"

    return _admit(
        raw_key,
        slug=embeddings.model,
        kind="embedding",
        request_id=request_id,
        endpoint="embeddings",
        request=embeddings,
        stream=False,
        worst_case=worst_case,
        idempotent=idempotent,
    )


_account_ids: dict[int, int] = {}


def _account_id(user_id: int) -> int:
    """The user's credit account id; one-to-one and never changes, so cached per process."""
    cached = _account_ids.get(user_id)
    if cached is not None:
        return cached
    account_id = CreditAccount.objects.filter(user_id=user_id).values_list("id", flat=True).first()
    if account_id is None:
        account_id = CreditAccount.objects.get_or_create(user_id=user_id)[0].pk
    _account_ids[user_id] = account_id
    return account_id


@dataclass
class Outcome:
    """How a request ended; `usage` is the upstream's, `estimated` when we counted."""

    status: str
    http_status: int
    provider_slug: str = ""
    usage: TokenUsage | None = None
    estimated: bool = False
    failures: tuple[tuple[str, str], ...] = ()  # (provider slug, reason) of failed attempts
    ttfb_ms: int | None = None
    units: int = 0  # images delivered (per-unit requests)

    @property
    def failovers(self) -> int:
        return len(self.failures)


def _cost(price: Price, unit_micros: int | None, hold_micros: int, outcome: Outcome) -> int:
    if unit_micros is not None:
        return min(outcome.units * unit_micros, hold_micros)
    if outcome.usage is None:
        return 0
    return min(token_cost_micros(price, outcome.usage), hold_micros)


def charge_for(admission: Admission, outcome: Outcome) -> int:
    """The micro-credits an outcome costs: its usage (or units delivered) at the price, never
    above the hold."""
    return _cost(admission.price, admission.unit_micros, admission.hold.amount_micros, outcome)


def wholesale_for(admission: Admission, outcome: Outcome) -> int | None:
    """What the reseller pays for a white-label request's outcome: the same usage at the
    operator's price, never above the wholesale hold. None for the operator's customers."""
    if admission.wholesale_price is None:
        return None
    wholesale = ledger.wholesale_of(admission.hold)
    return _cost(admission.wholesale_price, admission.wholesale_unit_micros,
                 wholesale.amount_micros, outcome)  # fmt: skip


def finish(admission: Admission, outcome: Outcome) -> int:
    """Steps 6–7: settle (or release) the hold and write the usage row, in one transaction.

    Returns the micro-credits charged. Safe to call twice: the ledger is keyed by request id
    and the usage row is unique per request."""
    usage = outcome.usage or TokenUsage(0, 0)
    charged = 0
    try:
        charged = _settle(admission, outcome, usage)
        _record(admission, outcome, charged)
        return charged
    finally:
        if admission.grant is not None:
            limits.finish(admission.grant, tokens=usage.input_tokens + usage.output_tokens)
        idempotency.done(admission.key.owner_id, admission.idempotent, charged=charged,
                         result=admission.result_ref)  # fmt: skip


def _record(admission: Admission, outcome: Outcome, charged: int) -> None:
    """The request's metrics and its access-log line: metadata only, never content."""
    seconds = time.monotonic() - admission.started
    model = admission.model.slug
    metrics.observe(
        endpoint=admission.endpoint, model=model, provider=outcome.provider_slug,
        status=outcome.status, seconds=seconds, ttfb_ms=outcome.ttfb_ms,
        failovers=outcome.failovers, charged_micros=charged,
    )  # fmt: skip
    access_log.info(
        "request",
        extra={
            "request_id": admission.request_id, "account_id": admission.key.owner_id,
            "key_id": admission.key.id, "endpoint": admission.endpoint, "model": model,
            "provider": outcome.provider_slug, "status": outcome.status,
            "http_status": outcome.http_status, "stream": admission.stream,
            "latency_ms": int(seconds * 1000), "ttfb_ms": outcome.ttfb_ms,
            "failovers": outcome.failovers, "charged_micros": charged,
        },
    )  # fmt: skip


def _settle(admission: Admission, outcome: Outcome, usage: TokenUsage) -> int:
    _connection_ready()
    charged = charge_for(admission, outcome)
    wholesale = wholesale_for(admission, outcome)
    record = usage_rows.insert_statement(
        usage_rows.row(
            request_id=admission.request_id,
            user_id=admission.key.owner_id,
            api_key_id=admission.key.id,
            endpoint=admission.endpoint,
            model_slug=admission.model.slug,
            provider_slug=outcome.provider_slug,
            status=outcome.status,
            http_status=outcome.http_status,
            stream=admission.stream,
            input_tokens=usage.input_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            output_tokens=usage.output_tokens,
            units=outcome.units,
            estimated=outcome.estimated,
            held_micros=admission.hold.amount_micros,
            charged_micros=charged,
            wholesale_micros=wholesale or 0,
            failovers=outcome.failovers,
            latency_ms=int((time.monotonic() - admission.started) * 1000),
            ttfb_ms=outcome.ttfb_ms,
            created_at=timezone.now(),
        )
    )
    try:
        if charged == 0 and outcome.status != UsageRecord.Status.OK:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(*usage_rows.standalone(record))
                ledger.release(admission.hold)
        else:
            # The usage row is written by the settle's own statement (one round trip on
            # PostgreSQL), so the money and the record land together.
            ledger.settle(admission.hold, charged_micros=charged, also=[record],
                          wholesale_micros=wholesale)  # fmt: skip
    except ledger.HoldNotOpen:
        # The reconciler released this hold (the request outlived HOLD_TTL_S): the customer
        # was refunded in full, so nothing is charged now; record the request as free.
        logger.warning("hold already closed at finish", extra={"request_id": admission.request_id})
        sql, params = usage_rows.standalone(record)
        params["u_charged_micros"] = params["u_wholesale_micros"] = 0
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        charged = 0
    if outcome.failures:
        UpstreamFailure.objects.bulk_create(
            UpstreamFailure(request_id=admission.request_id, provider_slug=provider,
                            model_slug=admission.model.slug, reason=reason[:40])
            for provider, reason in outcome.failures
        )  # fmt: skip
    logger.info(
        "request finished",
        extra={
            "request_id": admission.request_id,
            "account_id": admission.key.owner_id,
            "key_prefix": admission.key.prefix,
            "model": admission.model.slug,
            "provider": outcome.provider_slug,
            "status": outcome.status,
            "http_status": outcome.http_status,
            "charged_micros": charged,
            "failovers": outcome.failovers,
        },
    )
    return charged
