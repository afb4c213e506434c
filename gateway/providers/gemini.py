"""Google Gemini upstreams (`generateContent` / `streamGenerateContent?alt=sse`) behind our
internal OpenAI chat shape (PROTOCOLS.md §6). The provider's base URL is the host without
/v1beta (https://generativelanguage.googleapis.com); the key goes in `x-goog-api-key`.

Gemini's function calls carry no ids: we number them `call_<n>` on the way out and, on the
way back, find a tool result's function name from the assistant turn that called it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from catalog.pricing import TokenUsage
from catalog.selectors import RouteInfo
from gateway.providers.base import (
    ChatResult,
    Chunks,
    NoMedia,
    UpstreamProtocolError,
    UpstreamRequest,
    VideoPoll,
    assistant_message,
    chat_completion,
)
from gateway.providers.sse import iter_sse_data
from gateway.schemas import ChatRequest, EmbeddingsRequest, ImageRequest, VideoRequest

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
SAFETY = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
# JSON-schema keys Gemini's OpenAPI subset does not take.
UNSUPPORTED_SCHEMA_KEYS = {"$schema", "$id", "additionalProperties", "strict", "$defs"}


def clean_schema(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: clean_schema(v) for k, v in schema.items() if k not in UNSUPPORTED_SCHEMA_KEYS}
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    parts = []
    for part in content or []:
        if part.get("type") in {"text", "input_text"}:
            parts.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                mime, data = url[5:].split(";base64,", 1)
                parts.append({"inlineData": {"mimeType": mime, "data": data}})
            else:
                parts.append({"fileData": {"fileUri": url}})
    return parts


def to_gemini(chat: ChatRequest) -> dict[str, Any]:
    body = chat.body
    if chat.n != 1:
        raise NotImplementedError("candidateCount > 1 is not supported")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for message in body["messages"]:
        role, content = message.get("role"), message.get("content")
        if role in {"system", "developer"}:
            system.extend(_parts(content))
        elif role == "user":
            add("user", _parts(content))
        elif role == "assistant":
            parts = _parts(content) if content else []
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                call_names[call.get("id")] = function.get("name")
                try:
                    args = orjson.loads(function.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    args = {}
                parts.append({"functionCall": {"name": function.get("name"), "args": args}})
            add("model", parts or [{"text": ""}])
        elif role == "tool":
            text = content if isinstance(content, str) else orjson.dumps(content).decode()
            name = call_names.get(message.get("tool_call_id"), "tool")
            add("user", [{"functionResponse": {"name": name, "response": {"result": text}}}])
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    config: dict[str, Any] = {}
    if chat.max_output_tokens:
        config["maxOutputTokens"] = chat.max_output_tokens
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if (body.get("response_format") or {}).get("type") in {"json_object", "json_schema"}:
        config["responseMimeType"] = "application/json"
    if config:
        out["generationConfig"] = config
    declarations = [
        {"name": t["function"]["name"], "description": t["function"].get("description", ""),
         "parameters": clean_schema(t["function"].get("parameters") or {"type": "object"})}
        for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"
    ]  # fmt: skip
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        choice = body.get("tool_choice")
        mode = (
            {"auto": "AUTO", "required": "ANY", "none": "NONE"}.get(choice)
            if isinstance(choice, str)
            else None
        )
        calling: dict[str, Any] = {}
        if mode:
            calling["mode"] = mode
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            calling = {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
        if calling:
            out["toolConfig"] = {"functionCallingConfig": calling}
    return out


def usage_from_gemini(metadata: Any) -> TokenUsage | None:
    if not isinstance(metadata, dict) or not isinstance(metadata.get("promptTokenCount"), int):
        return None
    return TokenUsage(
        input_tokens=metadata["promptTokenCount"],
        output_tokens=(metadata.get("candidatesTokenCount") or 0)
        + (metadata.get("thoughtsTokenCount") or 0),
        cached_input_tokens=metadata.get("cachedContentTokenCount") or 0,
    )


def _finish(reason: Any, called: bool) -> str:
    if reason in SAFETY:
        return "content_filter"
    if called and reason in {None, "STOP"}:
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop")


ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def image_config(size: str) -> dict[str, str] | None:
    """An OpenAI size as Gemini's imageConfig: the nearest aspect ratio, and 1K/2K/4K by the
    long side (None for "auto": the model's default)."""
    if size == "auto":
        return None
    width, _, height = size.partition("x")
    w, h = int(width), int(height)
    ratio = min(
        ASPECT_RATIOS, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - w / h)
    )
    longest = max(w, h)
    return {
        "aspectRatio": ratio,
        "imageSize": "1K" if longest <= 1536 else "2K" if longest <= 3072 else "4K",
    }


def _key_headers(route: RouteInfo, **more: str) -> dict[str, str]:
    headers = dict(more)
    if route.api_key:
        headers["x-goog-api-key"] = route.api_key
    return headers


class GeminiAdapter(NoMedia):
    def images_request(self, route: RouteInfo, request: ImageRequest) -> UpstreamRequest:
        """Image output from generateContent (the "Nano Banana" models): the prompt, any
        uploaded images as inlineData parts (edits), IMAGE as the response modality."""
        parts: list[dict[str, Any]] = [{"text": request.body["prompt"]}]
        for name, upload in request.files:
            if name != "mask":
                data = base64.b64encode(upload.data).decode("ascii")
                parts.append({"inlineData": {"mimeType": upload.content_type, "data": data}})
        config: dict[str, Any] = {"responseModalities": ["IMAGE"], "candidateCount": request.n}
        if (sized := image_config(request.size)) is not None:
            config["imageConfig"] = sized
        body = {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}
        model = quote(route.upstream_model, safe="-._")
        return UpstreamRequest(
            url=f"{route.base_url}/v1beta/models/{model}:generateContent",
            headers=_key_headers(route, **{"content-type": "application/json"}),
            body=orjson.dumps(body),
        )

    # Veo: a long-running operation, polled by name; the finished file needs our key.
    def video_create_request(self, route: RouteInfo, video: VideoRequest) -> UpstreamRequest:
        if video.reference_is_video:
            raise NotImplementedError("Veo takes an image, not a video, as input")
        instance: dict[str, Any] = {"prompt": video.prompt}
        if video.reference is not None:
            data = base64.b64encode(video.reference.data).decode("ascii")
            instance["image"] = {"bytesBase64Encoded": data,
                                 "mimeType": video.reference.content_type}  # fmt: skip
        width, _, height = video.size.partition("x")
        parameters = {
            "aspectRatio": "9:16" if int(height) > int(width) else "16:9",
            "durationSeconds": video.seconds,
            "resolution": "1080p" if video.resolution in {"1080p", "4k"} else "720p",
        }
        model = quote(route.upstream_model, safe="-._")
        return UpstreamRequest(
            url=f"{route.base_url}/v1beta/models/{model}:predictLongRunning",
            headers=_key_headers(route, **{"content-type": "application/json"}),
            body=orjson.dumps({"instances": [instance], "parameters": parameters}),
        )

    def video_create_result(
        self, route: RouteInfo, payload: Any, video: VideoRequest
    ) -> ChatResult:
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or "/operations/" not in name:
            raise UpstreamProtocolError("no operation name")
        return ChatResult(body={"upstream_id": name, "status": "queued", "progress": 0}, usage=None)

    def video_poll_request(self, route: RouteInfo, upstream_id: str) -> UpstreamRequest:
        name = quote(upstream_id, safe="/-._")
        return UpstreamRequest(f"{route.base_url}/v1beta/{name}", _key_headers(route), b"")

    def video_poll_result(self, route: RouteInfo, payload: Any) -> VideoPoll:
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            raise UpstreamProtocolError("not an operation")
        if not payload.get("done"):
            return VideoPoll("in_progress", 50)
        if payload.get("error"):
            return VideoPoll("failed", 0)
        response = (payload.get("response") or {}).get("generateVideoResponse") or {}
        samples = response.get("generatedSamples") or []
        uri = ((samples[0] if samples else {}).get("video") or {}).get("uri")
        if not isinstance(uri, str):
            return VideoPoll("failed", 0)  # filtered for safety: nothing to deliver
        return VideoPoll("completed", 100, uri)

    def video_content_request(
        self, route: RouteInfo, upstream_id: str, content_url: str | None
    ) -> UpstreamRequest:
        if not content_url:
            raise UpstreamProtocolError("no video link")
        return UpstreamRequest(content_url, _key_headers(route), b"")

    def images_result(self, payload: Any, request: ImageRequest) -> ChatResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("candidates"), list):
            raise UpstreamProtocolError("no candidates")
        images = []
        for candidate in payload["candidates"]:
            for part in (candidate.get("content") or {}).get("parts") or []:
                inline = part.get("inlineData") or part.get("inline_data")
                if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                    images.append({"b64_json": inline["data"]})
        if not images:
            raise UpstreamProtocolError("no image in the answer")
        return ChatResult(body={"data": images[: request.n]}, usage=None)

    def chat_request(self, route: RouteInfo, chat: ChatRequest) -> UpstreamRequest:
        model = quote(route.upstream_model, safe="-._")
        method = "streamGenerateContent?alt=sse" if chat.stream else "generateContent"
        headers = {"content-type": "application/json"}
        if route.api_key:
            headers["x-goog-api-key"] = route.api_key
        return UpstreamRequest(
            url=f"{route.base_url}/v1beta/models/{model}:{method}",
            headers=headers,
            body=orjson.dumps(to_gemini(chat)),
        )

    def chat_result(self, payload: Any, chat: ChatRequest) -> ChatResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("candidates"), list):
            raise UpstreamProtocolError("no candidates")
        candidate = payload["candidates"][0] if payload["candidates"] else {}
        text, calls = "", []
        for part in (candidate.get("content") or {}).get("parts") or []:
            if isinstance(part.get("text"), str) and not part.get("thought"):
                text += part["text"]
            elif isinstance(part.get("functionCall"), dict):
                call = part["functionCall"]
                calls.append({"id": f"call_{len(calls)}", "type": "function", "function": {
                    "name": call.get("name"),
                    "arguments": orjson.dumps(call.get("args") or {}).decode()}})  # fmt: skip
        return chat_completion(
            id="chatcmpl-" + str(payload.get("responseId", "")),
            model=chat.model,
            message=assistant_message(text, calls),
            finish_reason=_finish(candidate.get("finishReason"), bool(calls)),
            usage=usage_from_gemini(payload.get("usageMetadata")),
        )

    async def chat_events(
        self, response: aiohttp.ClientResponse, chat: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        chunks = Chunks(chat.model)
        started, calls, finish, usage = False, 0, None, None

        async for data in iter_sse_data(response):
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamProtocolError("unreadable stream event") from None
            if not isinstance(event, dict) or "error" in event:
                raise UpstreamProtocolError("the upstream sent an error event")
            if not started:
                started = True
                chunks.id = "chatcmpl-" + str(event.get("responseId", "gemini"))
                yield chunks.delta({"role": "assistant", "content": ""})
            usage = usage_from_gemini(event.get("usageMetadata")) or usage
            for candidate in event.get("candidates") or []:
                for part in (candidate.get("content") or {}).get("parts") or []:
                    text = part.get("text")
                    if isinstance(text, str) and text and not part.get("thought"):
                        yield chunks.delta({"content": text})
                    elif isinstance(part.get("functionCall"), dict):
                        call = part["functionCall"]
                        arguments = orjson.dumps(call.get("args") or {}).decode()
                        function = {"name": call.get("name"), "arguments": arguments}
                        tool_call = {"index": calls, "id": f"call_{calls}", "type": "function"}
                        yield chunks.delta({"tool_calls": [{**tool_call, "function": function}]})
                        calls += 1
                if candidate.get("finishReason"):
                    finish = candidate["finishReason"]
        if finish is None:
            raise UpstreamProtocolError("the stream ended without a finishReason")
        yield chunks.delta({}, _finish(finish, calls > 0))
        if usage is not None:
            yield chunks.usage(usage)

    def embeddings_request(self, route: RouteInfo, request: EmbeddingsRequest) -> UpstreamRequest:
        raise NotImplementedError("Gemini embeddings are not wired yet")

    def embeddings_result(self, payload: Any, request: EmbeddingsRequest) -> ChatResult:
        raise NotImplementedError("Gemini embeddings are not wired yet")
