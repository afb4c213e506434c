"""A video provider described by data instead of code (provider kind `async_task`): many
video APIs (Vidu, Grok Imagine, Happy Horse, ...) are "POST a task, GET it until it says
done, download a link". Staff describe such an API in the provider's `options`:

    {
      "create_path": "/tasks",                      # POSTed under the base URL
      "create_body": {"model": "{model}", "prompt": "{prompt}", "duration": "{seconds}",
                      "size": "{size}", "resolution": "{resolution}"},
      "id_field": "id",                             # where the answer carries the task id
      "poll_path": "/tasks/{id}",
      "status_field": "status",
      "statuses": {"queued": "queued", "running": "in_progress",
                   "succeeded": "completed", "failed": "failed"},
      "progress_field": "progress",                 # optional, 0-100
      "result_url_field": "content.video_url",      # a link to the finished file, or
      "content_path": "/tasks/{id}/content",        # ... a path we GET with our key
      "auth": "bearer"                              # bearer | token | x-api-key | none
    }

An input the client uploads goes in as a data URL (`data:<type>;base64,...`) where the body
names `"{input_image_url}"` (an image) or `"{input_video_url}"` (a video: Enhance Video and
other tools); a value naming an input the request did not bring is left out, and a request
whose input the body does not name goes to the model's next route. Field names are dotted
paths into the JSON; a number
picks from a list (`creations.0.url`).

`PRESETS` below describes real task APIs (Vidu, xAI's Grok Imagine) from their public
documentation; the demo catalog gives them to its disabled `vidu` and `xai-video` providers.
Check them against the provider's current documentation before enabling a route.

A value of `create_body` that is exactly one placeholder keeps its type (`"{seconds}"`
becomes the number 8); other strings are filled in as text. A status the mapping does not
know counts as still running; the job's deadline bounds that. Links in `result_url_field`
are fetched without our key (they are pre-signed, as Ark's are); `content_path` is fetched
with it. Only videos: every other operation goes to the model's next route.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import orjson

from catalog.selectors import RouteInfo
from gateway.providers.base import (
    ChatResult,
    NoMedia,
    UpstreamProtocolError,
    UpstreamRequest,
    VideoPoll,
)
from gateway.schemas import VideoRequest

PRESETS: dict[str, dict[str, Any]] = {
    # Vidu (api.vidu.com): Authorization "Token <key>"; tasks under /ent/v2.
    "vidu": {
        "create_path": "/ent/v2/text2video",
        "create_body": {"model": "{model}", "prompt": "{prompt}", "duration": "{seconds}",
                        "resolution": "{resolution}", "images": ["{input_image_url}"]},
        "id_field": "task_id",
        "poll_path": "/ent/v2/tasks/{id}/creations",
        "status_field": "state",
        "statuses": {"created": "queued", "queueing": "queued", "processing": "in_progress",
                     "success": "completed", "failed": "failed"},
        "result_url_field": "creations.0.url",
        "auth": "token",
    },
    # xAI Grok Imagine (api.x.ai/v1): a request id, polled until "done".
    "grok-imagine": {
        "create_path": "/videos/generations",
        "create_body": {"model": "{model}", "prompt": "{prompt}", "duration": "{seconds}",
                        "resolution": "{resolution}", "image": {"url": "{input_image_url}"}},
        "id_field": "request_id",
        "poll_path": "/videos/{id}",
        "status_field": "status",
        "statuses": {"pending": "in_progress", "done": "completed", "failed": "failed",
                     "expired": "failed"},
        "result_url_field": "video.url",
        "auth": "bearer",
    },
}  # fmt: skip


def _dig(payload: Any, path: str) -> Any:
    for name in path.split("."):
        if isinstance(payload, list) and name.isdigit():
            payload = payload[int(name)] if int(name) < len(payload) else None
        elif isinstance(payload, dict):
            payload = payload.get(name)
        else:
            return None
    return payload


def _fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        for name, value in values.items():
            template = template.replace("{" + name + "}", str(value))
    return template


def _prune(body: Any) -> Any:
    """Drop what names an input the request did not bring (a placeholder left unfilled)."""
    if isinstance(body, dict):
        return {k: _prune(v) for k, v in body.items() if not _unfilled(v)}
    if isinstance(body, list):
        return [_prune(v) for v in body if not _unfilled(v)]
    return body


def _unfilled(value: Any) -> bool:
    return value in ("{input_image_url}", "{input_video_url}") or (
        isinstance(value, dict | list) and bool(value) and not _prune(value)
    )


class AsyncTaskAdapter(NoMedia):
    def _options(self, route: RouteInfo) -> dict[str, Any]:
        options = route.options or {}
        if not options.get("create_path") or not options.get("poll_path"):
            raise NotImplementedError("this provider's task API is not described")
        return options

    def _headers(self, route: RouteInfo, options: dict[str, Any]) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        auth = options.get("auth", "bearer")
        if route.api_key and auth == "bearer":
            headers["authorization"] = f"Bearer {route.api_key}"
        elif route.api_key and auth == "token":
            headers["authorization"] = f"Token {route.api_key}"
        elif route.api_key and auth == "x-api-key":
            headers["x-api-key"] = route.api_key
        return headers

    def video_create_request(self, route: RouteInfo, video: VideoRequest) -> UpstreamRequest:
        options = self._options(route)
        template = options.get("create_body") or {"model": "{model}", "prompt": "{prompt}"}
        values = {"model": route.upstream_model, "prompt": video.prompt,
                  "seconds": video.seconds, "size": video.size,
                  "resolution": video.resolution}  # fmt: skip
        if video.reference is not None:
            wanted = "{input_video_url}" if video.reference_is_video else "{input_image_url}"
            if wanted not in orjson.dumps(template).decode():
                raise NotImplementedError("this task API is not described as taking that input")
            encoded = base64.b64encode(video.reference.data).decode("ascii")
            values[wanted[1:-1]] = f"data:{video.reference.content_type};base64,{encoded}"
        body = _prune(_fill(template, values))
        return UpstreamRequest(
            route.base_url + options["create_path"], self._headers(route, options),
            orjson.dumps(body),
        )  # fmt: skip

    def video_create_result(
        self, route: RouteInfo, payload: Any, video: VideoRequest
    ) -> ChatResult:
        task_id = _dig(payload, self._options(route).get("id_field", "id"))
        if not isinstance(task_id, str | int):
            raise UpstreamProtocolError("no task id")
        return ChatResult(
            body={"upstream_id": str(task_id), "status": "queued", "progress": 0}, usage=None
        )

    def _get(self, route: RouteInfo, path_option: str, upstream_id: str) -> UpstreamRequest:
        """A GET of one of the task's paths (`poll_path`, `content_path`), with our key."""
        options = self._options(route)
        path = options[path_option].replace("{id}", quote(upstream_id, safe=""))
        headers = self._headers(route, options)
        headers.pop("content-type")
        return UpstreamRequest(route.base_url + path, headers, b"")

    def video_poll_request(self, route: RouteInfo, upstream_id: str) -> UpstreamRequest:
        return self._get(route, "poll_path", upstream_id)

    def video_poll_result(self, route: RouteInfo, payload: Any) -> VideoPoll:
        options = self._options(route)
        raw = _dig(payload, options.get("status_field", "status"))
        status = (options.get("statuses") or {}).get(raw, "in_progress")
        progress = _dig(payload, options.get("progress_field", "progress"))
        progress = min(max(progress, 0), 100) if isinstance(progress, int) else 0
        url = _dig(payload, options.get("result_url_field", "")) if status == "completed" else None
        if status == "completed" and not url and not options.get("content_path"):
            raise UpstreamProtocolError("a finished task without its file")
        return VideoPoll(status, progress, url if isinstance(url, str) else None)

    def video_content_request(
        self, route: RouteInfo, upstream_id: str, content_url: str | None
    ) -> UpstreamRequest:
        if content_url:
            return UpstreamRequest(content_url, {}, b"")  # pre-signed: no key goes with it
        return self._get(route, "content_path", upstream_id)

    # Not a chat or embeddings provider.
    def chat_request(self, route: RouteInfo, chat: Any) -> UpstreamRequest:
        raise NotImplementedError("a task API serves videos only")

    def embeddings_request(self, route: RouteInfo, request: Any) -> UpstreamRequest:
        raise NotImplementedError("a task API serves videos only")
