"""The /v1 API handlers, served by gateway/asgi.py. The event loop only waits on sockets;
database work happens in one deliberate thread hop before dispatch (admission) and one after
(finish).

Not DRF APIViews, nor Django views: DRF's views are synchronous and would hold a thread for
the whole life of a stream, and Django's request cycle costs more than the rest of the hot
path together (see docs/architecture.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import aiohttp
import orjson
from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.keys import AuthenticatedKey
from accounts.models import User
from brands import selectors as brands
from catalog.pricing import TokenUsage
from gateway import admission as adm
from gateway import (
    assets,
    idempotency,
    images,
    limits,
    multipart,
    router,
    selectors,
    tasks,
    tokens,
    videos,
)
from gateway.asgi import ApiRequest, Response, StreamResponse, json_response
from gateway.codecs import anthropic
from gateway.codecs import responses as responses_codec
from gateway.errors import ApiError, openai_error_response
from gateway.models import Asset, UsageRecord, VideoJob
from gateway.providers.base import UpstreamProtocolError, openai_usage
from gateway.providers.openai import usage_from_openai
from gateway.schemas import (
    CHAT_FIELDS,
    ChatRequest,
    ImageRequest,
    VideoRequest,
    parse_chat,
    parse_embeddings,
    parse_image_edit,
    parse_image_generation,
    parse_json_body,
    parse_video,
    parse_video_form,
    refuse_unknown_fields,
)
from reapi.money import credits_text

logger = logging.getLogger(__name__)

Status = UsageRecord.Status
_background: set[asyncio.Task[Any]] = set()


def raw_key_from(request: ApiRequest) -> str | None:
    """The key from `Authorization: Bearer <key>` or `x-api-key: <key>` (both accepted)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key") or None


async def _finish(admission: adm.Admission, outcome: adm.Outcome) -> int:
    """Settle and record, shielded: a client that hangs up cannot cancel the bookkeeping."""
    task = asyncio.ensure_future(
        sync_to_async(adm.finish, thread_sensitive=False)(admission, outcome)
    )
    _background.add(task)
    task.add_done_callback(_background.discard)
    return await asyncio.shield(task)


def _public_base(request: ApiRequest, brand_id: int | None) -> str:
    """Where our signed links start (SITE_URL or the brand's domain, else the host the request
    came to). X-Forwarded-Proto counts only behind our TLS proxy (BEHIND_TLS_PROXY)."""
    secure = bool(settings.SECURE_PROXY_SSL_HEADER) and (
        request.headers.get("x-forwarded-proto") == "https"
    )
    brand = brands.get(brand_id)
    return assets.public_base(request.headers.get("host"), secure=secure,
                              brand_domain=brand.domain if brand else None)  # fmt: skip


def _idempotent(request: ApiRequest) -> idempotency.Requested | None:
    return idempotency.from_headers(request.headers, request.method, request.path, request.body)


async def _replay(replay: idempotency.Replay, request: ApiRequest, dialect: Dialect) -> Response:
    """The answer to a retry of a finished request (gateway/idempotency.py)."""
    record = replay.record
    try:
        payload = await sync_to_async(_replay_payload, thread_sensitive=False)(record, request)
    except ApiError as error:
        return dialect.error(error, record.request_id)
    headers = {"x-request-id": record.request_id, "idempotent-replayed": "true"}
    return json_response(payload, headers=headers)


def _replay_payload(record: Any, request: ApiRequest) -> dict[str, Any]:
    kind, _, refs = record.result.partition(":")
    brand_id = User.objects.filter(pk=record.user_id).values_list("brand_id", flat=True).first()
    base = _public_base(request, brand_id)
    if kind == "video":
        return videos.serialize(VideoJob.objects.select_related("asset").get(pk=refs))
    if kind == "assets":
        stored = {str(a.pk): a for a in Asset.objects.filter(pk__in=refs.split(","))}
        links = [{"url": base + assets.signed_path(stored[r])} for r in refs.split(",")]
        charged = credits_text(record.charged_micros)
        return images.body(links, requested=len(links), charged_text=charged)
    raise idempotency.used(record)


async def _keyed(request: ApiRequest, action: Callable[[AuthenticatedKey], Any]) -> Response:
    """Authenticate, then `action(key)` in the same thread hop: a payload, or a Response."""
    request_id = adm.new_request_id()
    raw_key = raw_key_from(request)
    try:
        result = await sync_to_async(
            lambda: action(adm.authenticate(raw_key)), thread_sensitive=False
        )()
    except ApiError as error:
        return openai_error_response(error, request_id=request_id)
    if isinstance(result, Response):
        result.headers["x-request-id"] = request_id
        return result
    return json_response(result, headers={"x-request-id": request_id})


async def models(request: ApiRequest) -> Response:
    return await _keyed(request, selectors.models_for)


async def credits(request: ApiRequest) -> Response:
    return await _keyed(request, selectors.credits_for)


async def chat_completions(request: ApiRequest) -> Response | StreamResponse:
    request_id = adm.new_request_id()
    try:
        raw_key = raw_key_from(request)
        body = parse_json_body(request.body)
        refuse_unknown_fields(body, CHAT_FIELDS)
        chat = parse_chat(body)
        admission = await sync_to_async(adm.admit_chat, thread_sensitive=False)(
            raw_key, chat, request_id=request_id, idempotent=_idempotent(request)
        )
    except idempotency.Replay as replay:
        return await _replay(replay, request, OPENAI)
    except ApiError as error:
        return openai_error_response(error, request_id=request_id)
    if chat.stream:
        return await _chat_stream(admission, OPENAI)
    return await _chat_once(admission, OPENAI)


def _headers(
    admission: adm.Admission, provider: str, *, charged: int | None = None
) -> dict[str, str]:
    """`x-reapi-model`, `x-reapi-provider` and `x-reapi-credits-charged`; a white-label
    brand's customer gets `x-model` and `x-credits-charged`, and no word of us or of
    which provider answered."""
    # `request-id` is what Anthropic clients read; `x-request-id` what OpenAI clients read.
    white_label = admission.key.brand_id is not None
    prefix = "x-" if white_label else "x-reapi-"
    headers = {
        "x-request-id": admission.request_id,
        "request-id": admission.request_id,
        prefix + "model": admission.model.slug,
    }
    if provider and not white_label:
        headers["x-reapi-provider"] = provider
    if charged is not None:
        headers[prefix + "credits-charged"] = credits_text(charged)
    headers.update(limits.headers(admission.grant, anthropic=admission.endpoint == "messages"))
    return headers


async def _failed_before_first_byte(
    admission: adm.Admission,
    failure: router.AllRoutesFailed | router.UpstreamRejected,
    dialect: Dialect,
) -> Response:
    """Release the hold of a request no upstream answered, and tell the client why."""
    if isinstance(failure, router.AllRoutesFailed):
        outcome = adm.Outcome(Status.UPSTREAM_ERROR, 502, failures=tuple(failure.attempts.failures))
    else:
        outcome = adm.Outcome(
            Status.CLIENT_ERROR,
            failure.status,
            provider_slug=failure.route.provider_slug,
            failures=tuple(failure.attempts.failures),
        )
    await _finish(admission, outcome)
    return dialect.error(failure.as_api_error(), admission.request_id)


async def _answer_once(
    admission: adm.Admission,
    operation: router.Operation,
    dialect: Dialect,
    *,
    estimate: Callable[[dict[str, Any]], TokenUsage],
    render: Callable[[dict[str, Any], TokenUsage, int], dict[str, Any]],
) -> Response:
    """A non-stream request after admission: dispatch, settle, answer. `estimate` gives the
    usage when the upstream reports none; `render` writes the body in the client's shape."""
    try:
        done = await router.complete(operation, admission.model.routes)
    except (router.AllRoutesFailed, router.UpstreamRejected) as failure:
        return await _failed_before_first_byte(admission, failure, dialect)
    except asyncio.CancelledError:
        # The client hung up before anything was delivered: nothing is charged.
        await _finish(admission, adm.Outcome(Status.ABORTED, 499))
        raise
    usage = done.result.usage
    estimated = usage is None
    if usage is None:
        usage = estimate(done.result.body)
    outcome = adm.Outcome(
        Status.OK,
        200,
        provider_slug=done.route.provider_slug,
        usage=usage,
        estimated=estimated,
        failures=tuple(done.attempts.failures),
        ttfb_ms=done.ttfb_ms,
    )
    charged = await _finish(admission, outcome)
    headers = _headers(admission, done.route.provider_slug, charged=charged)
    return json_response(render(done.result.body, usage, charged), headers=headers)


async def _chat_once(admission: adm.Admission, dialect: Dialect) -> Response:
    chat = admission.request
    return await _answer_once(
        admission,
        router.chat_operation(chat),
        dialect,
        estimate=lambda body: TokenUsage(
            input_tokens=tokens.prompt_tokens_estimate(chat),
            output_tokens=tokens.text_tokens_estimate(_content_chars(body)),
        ),
        render=lambda body, usage, charged: dialect.completion(admission, body, usage, charged),
    )


def _content_chars(body: dict[str, Any]) -> int:
    chars = 0
    for choice in body.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            chars += _text_chars(message)
    return chars


def _text_chars(part: dict[str, Any]) -> int:
    """Characters of generated text in a message or a stream delta."""
    chars = 0
    for name in ("content", "refusal", "reasoning_content"):
        value = part.get(name)
        if isinstance(value, str):
            chars += len(value)
    for call in part.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            for name in ("name", "arguments"):
                if isinstance(function.get(name), str):
                    chars += len(function[name])
    return chars


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def _chat_stream(admission: adm.Admission, dialect: Dialect) -> Response | StreamResponse:
    chat = admission.request
    try:
        opened = await router.open_stream(chat, admission.model.routes)
    except (router.AllRoutesFailed, router.UpstreamRejected) as failure:
        return await _failed_before_first_byte(admission, failure, dialect)
    except asyncio.CancelledError:
        await _finish(admission, adm.Outcome(Status.ABORTED, 499))
        raise
    headers = _headers(admission, opened.route.provider_slug)
    headers["cache-control"] = "no-cache"
    headers["x-accel-buffering"] = "no"
    writer = dialect.stream_writer(admission, opened)
    return StreamResponse(200, _relay(admission, opened, writer), headers)


async def _relay(
    admission: adm.Admission, opened: router.OpenStream, writer: StreamWriter
) -> AsyncIterator[bytes]:
    """Pass the upstream's chunks to the client, counting what was delivered, and settle.

    Charging (docs/billing.md): a stream that ends normally pays the upstream's usage; one the
    upstream cuts pays only the output delivered; one the client abandons pays the prompt
    estimate plus the output delivered; all capped at the hold."""
    chat = admission.request
    provider = opened.route.provider_slug
    delivered_chars = 0
    usage: TokenUsage | None = None
    raw_usage: dict[str, Any] | None = None
    finished = False
    base = dict(
        provider_slug=provider, failures=tuple(opened.attempts.failures), ttfb_ms=opened.ttfb_ms
    )
    try:
        event: dict[str, Any] | None = opened.first
        while event is not None:
            choices = event.get("choices")
            if isinstance(event.get("usage"), dict) and not choices:
                raw_usage = event["usage"]
                usage = usage_from_openai(raw_usage)
            else:
                for choice in choices or []:
                    delta = choice.get("delta") if isinstance(choice, dict) else None
                    if isinstance(delta, dict):
                        delivered_chars += _text_chars(delta)
                out = writer.chunk(event)
                if out:
                    yield out
            event = await anext(opened.rest, None)
        # The upstream finished cleanly.
        estimated = usage is None
        if usage is None:
            usage = TokenUsage(
                input_tokens=tokens.prompt_tokens_estimate(chat),
                output_tokens=tokens.text_tokens_estimate(delivered_chars),
            )
        outcome = adm.Outcome(Status.OK, 200, usage=usage, estimated=estimated, **base)
        charged = await _finish(admission, outcome)
        finished = True
        yield writer.end(usage, None if estimated else raw_usage, charged)
    except (OSError, TimeoutError, UpstreamProtocolError, aiohttp.ClientError):
        # The upstream broke after the first byte: the client pays only what it received.
        delivered = TokenUsage(0, tokens.text_tokens_estimate(delivered_chars))
        await _finish(
            admission, adm.Outcome(Status.CUT, 502, usage=delivered, estimated=True, **base)
        )
        finished = True
        yield writer.cut(
            "The upstream stream was interrupted. You were charged only for the output delivered."
        )
    except (asyncio.CancelledError, GeneratorExit):
        if not finished:
            abandoned = TokenUsage(
                tokens.prompt_tokens_estimate(chat), tokens.text_tokens_estimate(delivered_chars)
            )
            await _finish(
                admission,
                adm.Outcome(Status.ABORTED, 499, usage=abandoned, estimated=True, **base),
            )
            finished = True
        raise
    finally:
        opened.close()
        if not finished:
            # Anything unexpected: never leave the hold open.
            await _finish(admission, adm.Outcome(Status.UPSTREAM_ERROR, 500, **base))


async def embeddings(request: ApiRequest) -> Response:
    request_id = adm.new_request_id()
    try:
        parsed = parse_embeddings(parse_json_body(request.body))
        admission = await sync_to_async(adm.admit_embeddings, thread_sensitive=False)(
            raw_key_from(request), parsed, request_id=request_id, idempotent=_idempotent(request)
        )
    except idempotency.Replay as replay:
        return await _replay(replay, request, OPENAI)
    except ApiError as error:
        return openai_error_response(error, request_id=request_id)
    return await _answer_once(
        admission,
        router.embeddings_operation(parsed),
        OPENAI,
        estimate=lambda body: TokenUsage(tokens.embedding_tokens_estimate(parsed), 0),
        render=lambda body, usage, charged: body,
    )


async def image_generations(request: ApiRequest) -> Response:
    """OpenAI's images API: priced per image delivered (size and quality), held for `n`."""
    return await _images(
        request, lambda: parse_image_generation(parse_json_body(request.body)), "images.generations"
    )


async def image_edits(request: ApiRequest) -> Response:
    """Edits of uploaded images (multipart, as the SDK sends them); priced like generations."""

    def parse() -> ImageRequest:
        content_type = request.headers.get("content-type")
        if not multipart.is_multipart(content_type):
            raise ApiError(400, "Image edits take multipart/form-data with the image files.",
                           code="invalid_content_type")  # fmt: skip
        return parse_image_edit(*multipart.parse(content_type, request.body))

    return await _images(request, parse, "images.edits")


async def _images(
    request: ApiRequest, parse: Callable[[], ImageRequest], endpoint: str
) -> Response:
    request_id = adm.new_request_id()
    try:
        parsed = parse()
        admission = await sync_to_async(adm.admit_image, thread_sensitive=False)(
            raw_key_from(request), parsed, request_id=request_id, endpoint=endpoint,
            idempotent=_idempotent(request),
        )  # fmt: skip
    except idempotency.Replay as replay:
        return await _replay(replay, request, OPENAI)
    except ApiError as error:
        return openai_error_response(error, request_id=request_id)
    try:
        done = await router.complete(router.images_operation(parsed), admission.model.routes)
    except (router.AllRoutesFailed, router.UpstreamRejected) as failure:
        return await _failed_before_first_byte(admission, failure, OPENAI)
    base = dict(
        provider_slug=done.route.provider_slug,
        failures=tuple(done.attempts.failures),
        ttfb_ms=done.ttfb_ms,
    )
    outcome = adm.Outcome(Status.ABORTED, 499, **base)  # until the answer is ready
    try:
        delivered = await images.image_bytes(done.result.body["data"])
        if not delivered:
            outcome = adm.Outcome(Status.UPSTREAM_ERROR, 502, **base)
            error = ApiError(
                502,
                "The upstream answered without a usable image. Nothing was charged; please retry.",
                type="api_error",
                code="upstream_error",
            )
            return openai_error_response(error, request_id=request_id)
        outcome = adm.Outcome(Status.UPSTREAM_ERROR, 500, **base)  # if storing fails
        # A brand's settings may need the database: read them off the event loop (ours never).
        brand_id = admission.key.brand_id
        links_base = (
            _public_base(request, None) if brand_id is None
            else await sync_to_async(_public_base, thread_sensitive=False)(request, brand_id)
        )  # fmt: skip
        data, admission.result_ref = await images.answer(
            delivered,
            response_format=parsed.response_format,
            user_id=admission.key.owner_id,
            request_id=request_id,
            base_url=links_base,
        )
        outcome = adm.Outcome(Status.OK, 200, units=len(data), **base)
    finally:
        charged = await _finish(admission, outcome)
    headers = _headers(admission, done.route.provider_slug, charged=charged)
    payload = images.body(data, requested=parsed.n, charged_text=credits_text(charged))
    return json_response(payload, headers=headers)


def _video_request(request: ApiRequest) -> VideoRequest:
    """A video request as JSON, or as the form the openai SDK sends (with an optional image or
    video as `input_reference`)."""
    content_type = request.headers.get("content-type")
    if not multipart.is_multipart(content_type):
        return parse_video(parse_json_body(request.body))
    return parse_video_form(*multipart.parse(content_type, request.body))


async def videos_create(request: ApiRequest) -> Response:
    """OpenAI's videos API: hold the job's price, submit it upstream now, answer `queued`."""
    request_id = adm.new_request_id()
    try:
        video = _video_request(request)
        admission = await sync_to_async(adm.admit_video, thread_sensitive=False)(
            raw_key_from(request), video, request_id=request_id, idempotent=_idempotent(request)
        )
    except idempotency.Replay as replay:
        return await _replay(replay, request, OPENAI)
    except ApiError as error:
        return openai_error_response(error, request_id=request_id)
    try:
        done = await router.complete(router.video_create_operation(video), admission.model.routes)
    except (router.AllRoutesFailed, router.UpstreamRejected) as failure:
        return await _failed_before_first_byte(admission, failure, OPENAI)
    except asyncio.CancelledError:
        await _finish(admission, adm.Outcome(Status.ABORTED, 499))
        raise
    job = await asyncio.shield(sync_to_async(_start_job, thread_sensitive=False)(admission, done))
    headers = _headers(admission, done.route.provider_slug)
    return json_response(job, headers=headers)


def _start_job(admission: adm.Admission, done: router.Completed) -> dict[str, Any]:
    """Create the job row, free the request's rate-limit slot, queue the first poll; the
    job as the client sees it."""
    try:
        job = videos.create(admission, done)
    except BaseException:
        adm.finish(admission, adm.Outcome(Status.UPSTREAM_ERROR, 500))  # never keep the hold
        raise
    if admission.grant is not None:
        limits.finish(admission.grant, tokens=0)  # the request is over; the job goes on
    idempotency.done(admission.key.owner_id, admission.idempotent, charged=0,
                     result=f"video:{job.id}")  # fmt: skip
    try:
        tasks.advance_video_job.apply_async((job.id,), countdown=1)
    except Exception:  # the broker is down: the periodic sweep will find the job
        logger.warning("could not queue the first poll", extra={"job": job.id})
    return videos.serialize(VideoJob.objects.select_related("asset").get(pk=job.pk))


async def videos_list(request: ApiRequest) -> Response:
    return await _keyed(
        request,
        lambda key: videos.listing(
            key.owner_id, limit=request.query.get("limit"), after=request.query.get("after")
        ),
    )


async def video_retrieve(request: ApiRequest) -> Response:
    video_id = request.params["video_id"]
    return await _keyed(request, lambda key: videos.serialize(videos.owned(key.owner_id, video_id)))


async def video_delete(request: ApiRequest) -> Response:
    video_id = request.params["video_id"]
    return await _keyed(request, lambda key: videos.delete_owned(key.owner_id, video_id))


async def video_content(request: ApiRequest) -> Response:
    """A redirect to our signed link of the stored file."""
    video_id = request.params["video_id"]
    variant = request.query.get("variant", "video")

    def locate(key: AuthenticatedKey) -> Response:
        if variant != "video":
            raise ApiError(400, f"Only variant=video is kept, not '{variant[:30]}'.",
                           param="variant")  # fmt: skip
        path = videos.content_path(key.owner_id, video_id)
        return Response(302, b"", {"location": _public_base(request, key.brand_id) + path})

    return await _keyed(request, locate)


class StreamWriter(Protocol):
    """Formats a relayed stream in the client's protocol."""

    def chunk(self, event: dict[str, Any]) -> bytes: ...

    def end(self, usage: TokenUsage, raw_usage: dict[str, Any] | None, charged: int) -> bytes: ...

    def cut(self, message: str) -> bytes: ...


class OpenAIStreamWriter:
    def __init__(self, admission: adm.Admission, opened: router.OpenStream) -> None:
        self.slug = admission.model.slug
        self.include_usage = admission.request.include_usage
        self.first = opened.first

    def chunk(self, event: dict[str, Any]) -> bytes:
        event["model"] = self.slug
        if not self.include_usage:
            event.pop("usage", None)
        return _sse(event)

    def end(self, usage: TokenUsage, raw_usage: dict[str, Any] | None, charged: int) -> bytes:
        out = b""
        if self.include_usage:
            out = _sse(
                {
                    "id": self.first.get("id"),
                    "object": "chat.completion.chunk",
                    "created": self.first.get("created"),
                    "model": self.slug,
                    "choices": [],
                    "usage": {
                        **(raw_usage or openai_usage(usage)),
                        "credits_charged": credits_text(charged),
                    },
                }
            )
        return out + b"data: [DONE]\n\n"

    def cut(self, message: str) -> bytes:
        return _sse(
            {
                "error": {
                    "message": message,
                    "type": "api_error",
                    "param": None,
                    "code": "upstream_stream_interrupted",
                }
            }
        )


class CodecStreamWriter:
    """A codec's stream writer (Anthropic, Responses) fitted to the relay: the charge goes
    into the final usage as `credits_charged`."""

    def __init__(self, codec: Any) -> None:
        self.codec = codec

    def chunk(self, event: dict[str, Any]) -> bytes:
        return self.codec.chunk(event)

    def end(self, usage: TokenUsage, raw_usage: dict[str, Any] | None, charged: int) -> bytes:
        return self.codec.end(usage, {"credits_charged": credits_text(charged)})

    def cut(self, message: str) -> bytes:
        return self.codec.cut(message)


class Dialect:
    """The client's protocol: how errors, finished answers and streams are written."""

    def error(self, error: ApiError, request_id: str) -> Response:
        return openai_error_response(error, request_id=request_id)

    def completion(
        self, admission: adm.Admission, body: dict[str, Any], usage: TokenUsage, charged: int
    ) -> dict[str, Any]:
        if isinstance(body.get("usage"), dict):
            body["usage"]["credits_charged"] = credits_text(charged)
        return body

    def stream_writer(self, admission: adm.Admission, opened: router.OpenStream) -> StreamWriter:
        return OpenAIStreamWriter(admission, opened)


class AnthropicDialect(Dialect):
    def error(self, error: ApiError, request_id: str) -> Response:
        headers = {**error.headers, "request-id": request_id, "x-request-id": request_id}
        if error.status in {402, 403}:
            headers["x-should-retry"] = "false"  # retrying cannot fix credits or a suspension
        return json_response(
            anthropic.error_body(error, request_id), status=error.status, headers=headers
        )

    def completion(
        self, admission: adm.Admission, body: dict[str, Any], usage: TokenUsage, charged: int
    ) -> dict[str, Any]:
        return anthropic.from_openai(
            body,
            model=admission.model.slug,
            request_id=admission.request_id,
            usage=usage,
            extra={"credits_charged": credits_text(charged)},
        )

    def stream_writer(self, admission: adm.Admission, opened: router.OpenStream) -> StreamWriter:
        return CodecStreamWriter(
            anthropic.StreamWriter(
                model=admission.model.slug,
                request_id=admission.request_id,
                input_tokens_estimate=tokens.prompt_tokens_estimate(admission.request),
            )
        )


class ResponsesDialect(Dialect):
    def completion(
        self, admission: adm.Admission, body: dict[str, Any], usage: TokenUsage, charged: int
    ) -> dict[str, Any]:
        return responses_codec.from_openai(
            body,
            model=admission.model.slug,
            request_id=admission.request_id,
            usage=usage,
            extra={"credits_charged": credits_text(charged)},
        )

    def stream_writer(self, admission: adm.Admission, opened: router.OpenStream) -> StreamWriter:
        return CodecStreamWriter(
            responses_codec.StreamWriter(
                model=admission.model.slug, request_id=admission.request_id
            )
        )


OPENAI = Dialect()
ANTHROPIC = AnthropicDialect()
RESPONSES = ResponsesDialect()


async def responses(request: ApiRequest) -> Response | StreamResponse:
    """OpenAI's Responses API (Codex CLI), served by whichever upstream the model routes to."""
    request_id = adm.new_request_id()
    try:
        chat = parse_chat(responses_codec.to_openai(parse_json_body(request.body)))
        admission = await sync_to_async(adm.admit_chat, thread_sensitive=False)(
            raw_key_from(request), chat, request_id=request_id, endpoint="responses",
            idempotent=_idempotent(request),
        )  # fmt: skip
    except idempotency.Replay as replay:
        return await _replay(replay, request, RESPONSES)
    except ApiError as error:
        return RESPONSES.error(error, request_id)
    if chat.stream:
        return await _chat_stream(admission, RESPONSES)
    return await _chat_once(admission, RESPONSES)


def _anthropic_body(request: ApiRequest) -> dict[str, Any]:
    """The JSON body of an Anthropic request, which must name its API version."""
    if not request.headers.get("anthropic-version"):
        raise ApiError(400, "anthropic-version: header is required.")
    return parse_json_body(request.body)


def _anthropic_chat(request: ApiRequest) -> ChatRequest:
    """Parse an Anthropic Messages body into our internal (OpenAI-shaped) chat request."""
    body = _anthropic_body(request)
    if not request.headers.get("anthropic-beta"):
        anthropic.refuse_unknown_fields(body)
    return parse_chat(anthropic.to_openai(body))


async def messages(request: ApiRequest) -> Response | StreamResponse:
    """Anthropic Messages, served by whichever upstream the model routes to."""
    request_id = adm.new_request_id()
    try:
        chat = _anthropic_chat(request)
        admission = await sync_to_async(adm.admit_chat, thread_sensitive=False)(
            raw_key_from(request), chat, request_id=request_id, endpoint="messages",
            idempotent=_idempotent(request),
        )  # fmt: skip
    except idempotency.Replay as replay:
        return await _replay(replay, request, ANTHROPIC)
    except ApiError as error:
        return ANTHROPIC.error(error, request_id)
    if chat.stream:
        return await _chat_stream(admission, ANTHROPIC)
    return await _chat_once(admission, ANTHROPIC)


def _count_tokens(raw_key: str | None, chat: ChatRequest) -> dict[str, int]:
    key = adm.authenticate(raw_key)
    adm.resolve_model(key, chat.model, kind="chat")
    return {"input_tokens": tokens.prompt_tokens_estimate(chat)}


async def count_tokens(request: ApiRequest) -> Response:
    """Anthropic's count_tokens: our estimate of the prompt (free, nothing is held)."""
    request_id = adm.new_request_id()
    try:
        body = _anthropic_body(request)
        body.setdefault("max_tokens", 1)  # count_tokens takes no max_tokens; Messages needs one
        body.pop("stream", None)
        chat = parse_chat(anthropic.to_openai(body))
        payload = await sync_to_async(_count_tokens, thread_sensitive=False)(
            raw_key_from(request), chat
        )
    except ApiError as error:
        return ANTHROPIC.error(error, request_id)
    return json_response(payload, headers={"request-id": request_id, "x-request-id": request_id})


ROUTES = {
    "/v1/models": {"GET": models},
    "/v1/credits": {"GET": credits},
    "/v1/chat/completions": {"POST": chat_completions},
    "/v1/embeddings": {"POST": embeddings},
    "/v1/images/generations": {"POST": image_generations},
    "/v1/images/edits": {"POST": image_edits},
    "/v1/videos": {"POST": videos_create, "GET": videos_list},
    "/v1/videos/{video_id}": {"GET": video_retrieve, "DELETE": video_delete},
    "/v1/videos/{video_id}/content": {"GET": video_content},
    "/v1/messages": {"POST": messages},
    "/v1/responses": {"POST": responses},
    "/v1/messages/count_tokens": {"POST": count_tokens},
}
