"""OpenAI-compatible upstreams (OpenAI itself, most resellers, vLLM, the bundled simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from catalog.pricing import TokenUsage
from catalog.selectors import RouteInfo
from gateway import multipart
from gateway.providers.base import ChatResult, UpstreamProtocolError, UpstreamRequest, VideoPoll
from gateway.providers.sse import iter_sse_data
from gateway.schemas import ChatRequest, EmbeddingsRequest, ImageRequest, VideoRequest


def usage_from_openai(usage: Any) -> TokenUsage | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return TokenUsage(
        input_tokens=max(prompt, 0),
        output_tokens=max(completion, 0),
        cached_input_tokens=cached if isinstance(cached, int) and cached > 0 else 0,
    )


VIDEO_STATUSES = {"queued", "in_progress", "completed", "failed"}


def auth_headers(route: RouteInfo, headers: dict[str, str]) -> dict[str, str]:
    if route.api_key:
        headers["authorization"] = f"Bearer {route.api_key}"
    return headers


def json_headers(route: RouteInfo) -> dict[str, str]:
    return auth_headers(route, {"content-type": "application/json", "accept": "application/json"})


class OpenAIAdapter:
    def chat_request(self, route: RouteInfo, chat: ChatRequest) -> UpstreamRequest:
        body = dict(chat.body)
        body["model"] = route.upstream_model
        if chat.stream:
            # Always ask for usage so the charge is exact; the usage chunk reaches the client
            # only if it asked for it.
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        accept = "text/event-stream" if chat.stream else "application/json"
        headers = auth_headers(route, {"content-type": "application/json", "accept": accept})
        return UpstreamRequest(
            url=f"{route.base_url}/chat/completions",
            headers=headers,
            body=orjson.dumps(body),
        )

    def chat_result(self, payload: Any, chat: ChatRequest) -> ChatResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise UpstreamProtocolError("response has no choices")
        payload["model"] = chat.model
        return ChatResult(body=payload, usage=usage_from_openai(payload.get("usage")))

    async def chat_events(
        self, response: aiohttp.ClientResponse, chat: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        async for data in iter_sse_data(response):
            if data == "[DONE]":
                return
            try:
                event = orjson.loads(data)
            except ValueError:
                raise UpstreamProtocolError("unreadable stream event") from None
            if not isinstance(event, dict):
                raise UpstreamProtocolError("stream event is not an object")
            if "error" in event and "choices" not in event:
                raise UpstreamProtocolError("the upstream sent an error event")
            yield event
        raise UpstreamProtocolError("the stream ended without [DONE]")

    def embeddings_request(self, route: RouteInfo, request: EmbeddingsRequest) -> UpstreamRequest:
        body = dict(request.body)
        body["model"] = route.upstream_model
        return UpstreamRequest(
            url=f"{route.base_url}/embeddings",
            headers=json_headers(route),
            body=orjson.dumps(body),
        )

    def embeddings_result(self, payload: Any, request: EmbeddingsRequest) -> ChatResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise UpstreamProtocolError("response has no data")
        if len(payload["data"]) != request.input_count:
            raise UpstreamProtocolError("one embedding per input expected")
        payload["model"] = request.model
        usage = payload.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        counted = (
            TokenUsage(input_tokens=tokens, output_tokens=0)
            if isinstance(tokens, int) and tokens >= 0
            else None
        )
        return ChatResult(body=payload, usage=counted)

    def images_request(self, route: RouteInfo, request: ImageRequest) -> UpstreamRequest:
        body = dict(request.body)
        body["model"] = route.upstream_model
        # We store and link images ourselves: ask for the bytes. (GPT Image models always
        # answer base64 and reject the parameter; older models answer a URL we download.)
        body.pop("response_format", None)
        if not request.files:
            return UpstreamRequest(
                url=f"{route.base_url}/images/generations",
                headers=json_headers(route),
                body=orjson.dumps(body),
            )
        fields = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in body.items()}
        payload, content_type = multipart.encode(fields, list(request.files))
        return UpstreamRequest(
            url=f"{route.base_url}/images/edits",
            headers=auth_headers(
                route, {"content-type": content_type, "accept": "application/json"}
            ),
            body=payload,
        )

    def images_result(self, payload: Any, request: ImageRequest) -> ChatResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise UpstreamProtocolError("response has no data")
        images = []
        for item in payload["data"][: request.n]:
            if not isinstance(item, dict):
                raise UpstreamProtocolError("an image item is not an object")
            if isinstance(item.get("b64_json"), str) or isinstance(item.get("url"), str):
                images.append(item)
        if not images:
            raise UpstreamProtocolError("no image in the answer")
        return ChatResult(body={**payload, "data": images}, usage=None)

    def video_create_request(self, route: RouteInfo, video: VideoRequest) -> UpstreamRequest:
        fields = {"model": route.upstream_model, "prompt": video.prompt,
                  "seconds": str(video.seconds), "size": video.size}  # fmt: skip
        if not video.prompt:  # a tool working on the video it is given needs none
            del fields["prompt"]
        if video.reference is None:
            return UpstreamRequest(
                f"{route.base_url}/videos", json_headers(route), orjson.dumps(fields)
            )
        body, content_type = multipart.encode(fields, [("input_reference", video.reference)])
        return UpstreamRequest(
            f"{route.base_url}/videos", auth_headers(route, {"content-type": content_type}), body
        )

    def video_create_result(
        self, route: RouteInfo, payload: Any, video: VideoRequest
    ) -> ChatResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise UpstreamProtocolError("no video job id")
        poll = self.video_poll_result(route, payload)
        if poll.status == "failed":
            raise UpstreamProtocolError("the job failed at once")
        body = {"upstream_id": payload["id"], "status": poll.status, "progress": poll.progress}
        return ChatResult(body=body, usage=None)

    def video_poll_request(self, route: RouteInfo, upstream_id: str) -> UpstreamRequest:
        url = f"{route.base_url}/videos/{quote(upstream_id, safe='')}"
        return UpstreamRequest(url, auth_headers(route, {"accept": "application/json"}), b"")

    def video_poll_result(self, route: RouteInfo, payload: Any) -> VideoPoll:
        if not isinstance(payload, dict) or payload.get("status") not in VIDEO_STATUSES:
            raise UpstreamProtocolError("no video job status")
        progress = payload.get("progress")
        progress = min(max(progress, 0), 100) if isinstance(progress, int) else 0
        return VideoPoll(payload["status"], progress)

    def video_content_request(
        self, route: RouteInfo, upstream_id: str, content_url: str | None
    ) -> UpstreamRequest:
        url = f"{route.base_url}/videos/{quote(upstream_id, safe='')}/content"
        return UpstreamRequest(url, auth_headers(route, {}), b"")
