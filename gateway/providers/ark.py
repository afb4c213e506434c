"""ByteDance Ark / BytePlus ModelArk (provider kind `ark`, base URL ending in `/api/v3`;
PROTOCOLS.md §7): chat is OpenAI-compatible; Seedream images are OpenAI-like; Seedance videos
are an asynchronous task API whose finished file is a pre-signed link (fetched without our
key, then kept in our storage since Ark's expires after 24 h)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import orjson

from catalog.selectors import RouteInfo
from gateway.providers.base import ChatResult, UpstreamProtocolError, UpstreamRequest, VideoPoll
from gateway.providers.openai import OpenAIAdapter, auth_headers, json_headers
from gateway.schemas import ImageRequest, VideoRequest

# Ark's task states → ours.
TASK_STATUSES = {
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "expired": "failed",
}
RATIOS = {(16, 9): "16:9", (9, 16): "9:16", (1, 1): "1:1", (4, 3): "4:3", (3, 4): "3:4",
          (21, 9): "21:9"}  # fmt: skip


def _data_url(upload: Any) -> str:
    return f"data:{upload.content_type};base64,{base64.b64encode(upload.data).decode('ascii')}"


def _ratio(size: str) -> str:
    width, _, height = size.partition("x")
    wanted = int(width) / int(height)
    return min(RATIOS.items(), key=lambda item: abs(item[0][0] / item[0][1] - wanted))[1]


class ArkAdapter(OpenAIAdapter):
    """Chat and embeddings as OpenAI's (inherited); images and videos in Ark's own shapes."""

    def images_request(self, route: RouteInfo, request: ImageRequest) -> UpstreamRequest:
        body: dict[str, Any] = {
            "model": route.upstream_model,
            "prompt": request.body["prompt"],
            "response_format": "b64_json",
            "watermark": False,
        }
        if request.size != "auto":
            body["size"] = request.size
        references = [_data_url(f) for name, f in request.files if name != "mask"]
        if references:
            body["image"] = references if len(references) > 1 else references[0]
        if request.n > 1:
            body["sequential_image_generation"] = "auto"
            body["sequential_image_generation_options"] = {"max_images": request.n}
        return UpstreamRequest(
            url=f"{route.base_url}/images/generations",
            headers=json_headers(route),
            body=orjson.dumps(body),
        )

    def video_create_request(self, route: RouteInfo, video: VideoRequest) -> UpstreamRequest:
        if video.reference_is_video:
            raise NotImplementedError("Seedance takes an image, not a video, as its first frame")
        content: list[dict[str, Any]] = [{"type": "text", "text": video.prompt}]
        if video.reference is not None:
            content.append({"type": "image_url", "image_url": {"url": _data_url(video.reference)},
                            "role": "first_frame"})  # fmt: skip
        body = {
            "model": route.upstream_model,
            "content": content,
            "resolution": video.resolution if video.resolution != "4k" else "1080p",
            "ratio": _ratio(video.size),
            "duration": video.seconds,
            "watermark": False,
        }
        return UpstreamRequest(
            url=f"{route.base_url}/contents/generations/tasks",
            headers=json_headers(route),
            body=orjson.dumps(body),
        )

    def video_create_result(
        self, route: RouteInfo, payload: Any, video: VideoRequest
    ) -> ChatResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise UpstreamProtocolError("no task id")
        return ChatResult(
            body={"upstream_id": payload["id"], "status": "queued", "progress": 0}, usage=None
        )

    def video_poll_request(self, route: RouteInfo, upstream_id: str) -> UpstreamRequest:
        url = f"{route.base_url}/contents/generations/tasks/{quote(upstream_id, safe='')}"
        return UpstreamRequest(url, auth_headers(route, {"accept": "application/json"}), b"")

    def video_poll_result(self, route: RouteInfo, payload: Any) -> VideoPoll:
        status = TASK_STATUSES.get(payload.get("status")) if isinstance(payload, dict) else None
        if status is None:
            raise UpstreamProtocolError("no task status")
        url = (payload.get("content") or {}).get("video_url")
        if status == "completed" and not isinstance(url, str):
            raise UpstreamProtocolError("a finished task without its video")
        # Ark reports no progress: a running task is shown half done.
        progress = {"queued": 0, "in_progress": 50, "completed": 100}.get(status, 0)
        return VideoPoll(status, progress, url if status == "completed" else None)

    def video_content_request(
        self, route: RouteInfo, upstream_id: str, content_url: str | None
    ) -> UpstreamRequest:
        if not content_url:
            raise UpstreamProtocolError("no video link")
        return UpstreamRequest(content_url, {}, b"")  # pre-signed: no key goes with it
