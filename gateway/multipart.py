"""multipart/form-data for the /v1 API (the openai SDK sends video and image-edit requests so):
read a bounded body into fields and files with the standard library's MIME parser, and write
one for an upstream."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP

from gateway.errors import bad_request

MAX_PARTS = 50


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


def is_multipart(content_type: str | None) -> bool:
    return bool(content_type) and content_type.lower().startswith("multipart/form-data")


def parse(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, list[UploadedFile]]]:
    """Fields (text) and files (a list per field name: `image[]` may repeat) of a form; a
    400 for anything that is not a readable form."""
    if "boundary=" not in content_type:
        raise bad_request("The multipart body has no boundary.", code="invalid_multipart")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise bad_request("The multipart body could not be read.", code="invalid_multipart")
    fields: dict[str, str] = {}
    files: dict[str, list[UploadedFile]] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_PARTS:
            raise bad_request("The form has too many parts.", code="invalid_multipart")
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files.setdefault(name, []).append(
                UploadedFile(filename, part.get_content_type(), payload)
            )
        else:
            try:
                fields[name] = payload.decode(part.get_content_charset() or "utf-8")
            except (UnicodeDecodeError, LookupError):
                raise bad_request(
                    f"The form field '{name[:50]}' is not text.", param=name[:50]
                ) from None
    return fields, files


def encode(fields: dict[str, str], files: dict[str, UploadedFile]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = "reapi-" + secrets.token_hex(12)
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, upload in files:
        safe = upload.filename.replace('"', "").replace("\r", "").replace("\n", "")
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{safe}"'
            f"\r\nContent-Type: {upload.content_type}\r\n\r\n"
        ).encode()
        out += upload.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
