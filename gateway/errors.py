"""Errors the gateway answers with, in the shape of the protocol the client spoke."""

from __future__ import annotations


class ApiError(Exception):
    """An error for the client. `message` must never contain secrets; it may echo the
    client's own input back to it, but is never logged."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 (OpenAI's field name)
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def openai_body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def openai_error_response(error: ApiError, *, request_id: str | None = None):
    from gateway.asgi import json_response

    headers = dict(error.headers)
    if request_id:
        headers["x-request-id"] = request_id
    return json_response(error.openai_body(), status=error.status, headers=headers)


def bad_request(message: str, *, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)
