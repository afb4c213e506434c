"""OpenAI images: `POST /v1/images/generations` and `POST /v1/images/edits` (neither
streamed), and `GET /_sim/images/<id>.png` for the images they answer as URLs.

Images are real, valid PNGs of the requested size, each one solid colour: the first three
bytes of SHA-256 over (model, index, prompt), and for an edit over the input images too,
8-bit RGB (colour type 2), or RGBA with alpha 0 (colour type 6) for `background:
"transparent"`. So:

* the same model, prompt and index (and input images) give the same image in every run and
  process, and the `n` images of one request differ (`image_colour`, `image_png`, and for
  edits `edit_colour`, `edit_png`, give the exact bytes for tests);
* an image costs well under a millisecond, whatever its size: the first row is Sub-filtered
  (the pixel, then zeros) and the others Up-filtered (all zeros), the deflate data of a block
  of zero rows is made once per width and repeated (the Adler-32 combined arithmetically), so a
  1024x1024 PNG is about 5 KB and no pixel is ever visited in Python.

The answer has one shape for every model and both endpoints (no per-model rules, e.g.
dall-e-3's n=1):

    {"created": <unix time>,
     "data": [{"b64_json": "<PNG, base64>", "revised_prompt": null}, ...],
     "background": "opaque" | "transparent", "output_format": "png", "size": "<W>x<H>",
     "quality": <as asked; auto: "high">,
     "usage": {"input_tokens": P + I, "input_tokens_details": {"text_tokens": P,
                                                                "image_tokens": I},
               "output_tokens": O, "output_tokens_details": {"image_tokens": O, "text_tokens": 0},
               "total_tokens": P + I + O}}

* Usage: P = the number of whitespace-separated words of the prompt (directive included);
  I = `INPUT_TOKENS_PER_IMAGE` (50) per input image of an edit (0 for a generation; a mask or
  markup is not counted); O = `OUTPUT_TOKENS_PER_IMAGE` (100) per image delivered.
* `response_format: "url"`: items carry `"url": "http://<Host>/_sim/images/<id>.png"` instead of
  `b64_json`, a URL on the simulator itself (from the request's Host header). The last
  `MAX_STORED_IMAGES` (256) such images are kept in memory (per process, not cleared by
  `/_sim/reset`), the oldest dropped: a 404 after that. The default is `b64_json` for every
  model (OpenAI's DALL·E models default to `url`).
* `size`: "auto" is 1024x1024 for a generation; besides OpenAI's listed sizes, any `<W>x<H>`
  with both sides 64..4096 is made.
* `output_format` "jpeg" and "webp" are accepted but the image is a PNG all the same and the
  answer says `"output_format": "png"`; "gif" and "svg" are a 400 (not simulated), and so are
  their parameters `frame_count`, `frame_duration_ms`, `svg` unless null. `moderation`,
  `output_compression`, `style`, `complexity`, `partial_images`, `user`, `safety_identifier`
  (and for edits `input_fidelity`) are checked, then ignored.

Edits (`POST /v1/images/edits`) take multipart/form-data only, what the SDK sends (any other
body, JSON included, is a 400 that says so). Form fields: the fields of the SDK's
ImageEditParams (`prompt`, `model`, `n`, `size`, `quality`, `response_format`,
`output_format`, `background`, `input_fidelity`, `output_compression`, `partial_images`,
`user`, `safety_identifier`, `complexity`, `stream`; `frame_count`, `frame_duration_ms`,
`svg[...]` refused as above), as text; integers and `stream` ("true"/"false") are read from
their text. Files:

* `image` (required): one file, or several sent as repeated `image[]` (or `image`) parts, at
  most `MAX_INPUT_IMAGES` (16), each a PNG, JPEG or WEBP by its first bytes (whatever its
  declared type or file name) and at most `MAX_IMAGE_BYTES` (50 MiB). Uploads are streamed:
  only their SHA-256 and first bytes are kept, never the whole file.
* The result depends on every input image: the colour hashes the SHA-256 of each image in
  order (see `edit_colour`). `size` "auto" (or absent) is the first image's size if it is a PNG
  (read from its IHDR), each side clamped to 64..4096, else 1024x1024.
* `mask` (optional): a PNG of at most `MAX_MASK_BYTES` (4 MiB), of the first image's size when
  both sizes are known; `markup` (optional, not with `mask`): a PNG of the first image's size.
  Checked, then ignored (the result does not depend on them).

Faults: the server-applied ones (`latency_ms`, `hang_s`, `reset`, `status` with `retry_after`
and `code`), then `malformed` (half the JSON, status 200) and `cut_after` (announced length,
half sent) exactly as for embeddings. `images=N` delivers only the first min(n, N) images
(N=0: `"data": []`), usage counting those only: a partial failure. `tokens` and
`tokens_per_second` are ignored. The `[sim ...]` directive is looked for in `prompt`; for an
edit, whose form body the server does not read, this module reads it and applies the
directive's server-level faults itself, after the others (as `openai_videos` does): its
`latency_ms` and `hang_s` top up what the scope and header already waited, its `reset` and
`status` act as usual.
The image URL route is an endpoint like the others (also under `/s/<scope>/`, counted in the
stats): its scope's server-applied faults apply to it, and `malformed` sends half the PNG.

Validation (400, OpenAI envelope, `param` set): a body that is not an object; unknown
top-level fields (`unknown_parameter`; known: every field of the SDK's ImageGenerateParams,
or ImageEditParams for edits); `prompt` missing, not a string, empty or longer than 32000
characters; `model` not a non-empty string (absent: "dall-e-2"); `n` not an integer in 1..10;
`size` not "auto", a listed size or a `<W>x<H>` in range; `quality`, `response_format`,
`output_format`, `background`, `moderation`, `style`, `complexity`, `input_fidelity` outside
their values; `output_compression` outside 0..100, `partial_images` outside 0..3; `user`,
`safety_identifier` not strings; `stream` not a boolean, or true (streaming is not
simulated); a transparent background with `output_format: "jpeg"`. For edits also: a form
that does not parse, a part without a name, a repeated field (other than `image`/`image[]`),
a text field sent as a file or not UTF-8; `image` missing (`missing_required_parameter`), more
than 16 (`array_above_max_length`), not an image (`invalid_image_format`) or too large
(`file_too_large`), all with `param: "image"`; `mask` / `markup` not a PNG, too large or of
another size than the image; `mask` and `markup` both given.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import re
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from simulator.endpoint import Call, Endpoint
from simulator.faults import (
    ErrorInfo,
    Faults,
    FaultSpecError,
    find_directive,
    parse_spec,
    reset_connection,
)
from simulator.jsonshape import is_int as _is_int
from simulator.jsonshape import json_type as _json_type
from simulator.openai_common import json_response, new_id, render_error

DEFAULT_MODEL = "dall-e-2"
MAX_PROMPT_CHARS = 32_000
MAX_IMAGES = 10  # `n`
MIN_SIDE, MAX_SIDE = 64, 4096  # for sizes outside OpenAI's list
SIZES = (
    "auto", "1024x1024", "1536x1024", "1024x1536", "256x256", "512x512", "1792x1024", "1024x1792",
)  # fmt: skip
AUTO_SIZE = (1024, 1024)
QUALITIES = ("auto", "low", "medium", "high", "xhigh", "max", "standard", "hd")
AUTO_QUALITY = "high"
RESPONSE_FORMATS = ("b64_json", "url")
OUTPUT_FORMATS = ("png", "jpeg", "webp")  # all answered as PNG
UNSIMULATED_FORMATS = ("gif", "svg")
BACKGROUNDS = ("auto", "opaque", "transparent")
MODERATIONS = ("auto", "low")
STYLES = ("vivid", "natural")
COMPLEXITIES = ("low", "medium", "high")
OUTPUT_TOKENS_PER_IMAGE = 100
MAX_STORED_IMAGES = 256  # images answered as URLs, kept for GET
IMAGE_PATH = "/_sim/images"

# Every top-level field of the SDK's ImageGenerateParams (openai 3.x); others are a 400.
KNOWN_PARAMS = frozenset(
    {
        "background",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "model",
        "moderation",
        "n",
        "output_compression",
        "output_format",
        "partial_images",
        "prompt",
        "quality",
        "response_format",
        "safety_identifier",
        "size",
        "stream",
        "style",
        "svg",
        "user",
    }
)
# Every top-level field of the SDK's ImageEditParams (openai 3.x), sent as form fields.
KNOWN_EDIT_PARAMS = frozenset(
    {
        "background",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "image",
        "input_fidelity",
        "markup",
        "mask",
        "model",
        "n",
        "output_compression",
        "output_format",
        "partial_images",
        "prompt",
        "quality",
        "response_format",
        "safety_identifier",
        "size",
        "stream",
        "svg",
        "user",
    }
)
# Parameters of GIF and SVG output, which the simulator does not make: a 400 unless null.
UNSIMULATED_PARAMS = ("frame_count", "frame_duration_ms", "svg")
INPUT_FIDELITIES = ("high", "low")
INPUT_TOKENS_PER_IMAGE = 50  # of an edit's input images
MAX_INPUT_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024  # per input image
MAX_MASK_BYTES = 4 * 1024 * 1024  # mask and markup
MAX_FIELD_BYTES = 1024 * 1024  # a text form field; more is refused (the prompt: too long)
FILE_FIELDS = ("image", "image[]", "mask", "markup")  # form parts read as uploads
INT_FIELDS = ("n", "output_compression", "partial_images", "frame_count", "frame_duration_ms")
MULTIPART = "multipart/form-data"
_HEAD_BYTES = 32  # of an upload, kept: enough for its magic bytes and a PNG's IHDR
_READ_CHUNK = 1 << 16
_FORM_INT = re.compile(r"[+-]?[0-9]{1,18}")
_SIZE = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")


class InvalidRequest(Exception):
    def __init__(self, message: str, *, param: str | None, code: str | None = None):
        super().__init__(message)
        self.info = ErrorInfo(400, message, code=code, param=param)


@dataclass(frozen=True, slots=True)
class ImageParams:
    model: str
    prompt: str
    n: int
    width: int
    height: int
    quality: str  # as answered (auto resolved)
    response_format: str
    transparent: bool
    source: bytes | None = None  # an edit's `images_digest` of its input images
    input_images: int = 0  # an edit's input images (for usage)

    def colour(self, index: int) -> bytes:
        if self.source is None:
            return image_colour(self.model, self.prompt, index)
        return _edit_colour(self.model, self.prompt, index, self.source)


# --- validation ------------------------------------------------------------------------------


def _values(options: tuple[str, ...]) -> str:
    quoted = [f"'{o}'" for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _wrong_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _enum(body: dict[str, Any], name: str, options: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(name, "a string", value)
    if value not in options:
        raise InvalidRequest(
            f"Invalid value: {json.dumps(value)}. Supported values are: {_values(options)}.",
            param=name,
            code="invalid_value",
        )
    return value


def _int_in(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value):
        raise _wrong_type(name, "an integer", value)
    if value < low:
        raise InvalidRequest(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    if value > high:
        raise InvalidRequest(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            param=name,
            code="integer_above_max_value",
        )
    return value


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _wrong_type(name, "a string", value)
    return value


def parse_size(size: str) -> tuple[int, int]:
    """(width, height) of a `size` value; ValueError if the simulator does not make it."""
    if size == "auto":
        return AUTO_SIZE
    match = _SIZE.fullmatch(size)
    if match is None:
        raise ValueError(size)
    width, height = int(match.group(1)), int(match.group(2))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ValueError(size)
    return width, height


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequest(
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    if not isinstance(prompt, str):
        raise _wrong_type("prompt", "a string", prompt)
    if not prompt:
        raise InvalidRequest(
            "Invalid 'prompt': empty string. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="prompt",
            code="empty_string",
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def _size(body: dict[str, Any]) -> tuple[int, int]:
    size = body.get("size")
    if size is None:
        return AUTO_SIZE
    if not isinstance(size, str):
        raise _wrong_type("size", "a string", size)
    try:
        return parse_size(size)
    except ValueError:
        raise InvalidRequest(
            f"Invalid value: {json.dumps(size)}. Supported values are: {_values(SIZES)}, "
            f"or '<width>x<height>' with both sides between {MIN_SIDE} and {MAX_SIDE}.",
            param="size",
            code="invalid_value",
        ) from None


def _output_format(body: dict[str, Any]) -> str:
    value = body.get("output_format")
    if value in UNSIMULATED_FORMATS:
        raise InvalidRequest(
            f"output_format {json.dumps(value)} is not supported by this simulator (it makes "
            "PNG images; 'jpeg' and 'webp' are accepted and answered as PNG).",
            param="output_format",
            code="unsupported_value",
        )
    return _enum(body, "output_format", OUTPUT_FORMATS) or "png"


def _check_fields(body: Any, known: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}.",
            param=None,
            code="invalid_type",
        )
    for key in body:
        if key not in known:
            raise InvalidRequest(
                f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter"
            )
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        return DEFAULT_MODEL
    if not isinstance(model, str) or not model:
        raise _wrong_type("model", "a non-empty string", model)
    return model


@dataclass(frozen=True, slots=True)
class _Options:
    n: int
    quality: str  # as answered (auto resolved)
    response_format: str
    transparent: bool


def _options(body: dict[str, Any], *, what: str) -> _Options:
    """The options generations and edits share (`size` apart); `what` names the endpoint."""
    n = _int_in(body, "n", 1, MAX_IMAGES) or 1
    quality = _enum(body, "quality", QUALITIES) or "auto"
    response_format = _enum(body, "response_format", RESPONSE_FORMATS) or "b64_json"
    output_format = _output_format(body)
    background = _enum(body, "background", BACKGROUNDS)
    if background == "transparent" and output_format == "jpeg":
        raise InvalidRequest(
            "Transparent background is not supported with output_format 'jpeg': use 'png' "
            "or 'webp'.",
            param="background",
            code="invalid_value",
        )
    _enum(body, "complexity", COMPLEXITIES)
    _int_in(body, "output_compression", 0, 100)
    _int_in(body, "partial_images", 0, 3)
    _string(body, "user")
    _string(body, "safety_identifier")
    for name in UNSIMULATED_PARAMS:
        if body.get(name) is not None:
            raise InvalidRequest(
                f"'{name}' is for GIF or SVG output, which this simulator does not make.",
                param=name,
                code="unsupported_parameter",
            )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean", stream)
    if stream:
        raise InvalidRequest(
            f"Streaming is not supported by this simulator's {what}: leave 'stream' "
            "out or set it to false.",
            param="stream",
            code="unsupported_value",
        )
    return _Options(
        n=n,
        quality=AUTO_QUALITY if quality == "auto" else quality,
        response_format=response_format,
        transparent=background == "transparent",
    )


def parse_request(body: Any) -> ImageParams:
    """Validate like api.openai.com does (same messages, params and codes where we know them)."""
    body = _check_fields(body, KNOWN_PARAMS)
    prompt = _prompt(body)
    model = _model(body)
    width, height = _size(body)
    options = _options(body, what="image generation")
    _enum(body, "moderation", MODERATIONS)
    _enum(body, "style", STYLES)
    return ImageParams(
        model=model,
        prompt=prompt,
        n=options.n,
        width=width,
        height=height,
        quality=options.quality,
        response_format=options.response_format,
        transparent=options.transparent,
    )


# --- PNG -------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZLIB_HEADER = b"\x78\xda"  # deflate, 32 KiB window, "best" level (a multiple of 31)
_FINAL_BLOCK = b"\x03\x00"  # an empty, final, fixed-Huffman deflate block
_ADLER_MOD = 65521
_BLOCK_BYTES = 1 << 18  # raw bytes of zero rows deflated once, then repeated


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """zlib's adler32_combine: the Adler-32 of A + B from those of A and B and len(B)."""
    s1 = ((first & 0xFFFF) + (second & 0xFFFF) - 1) % _ADLER_MOD
    s2 = ((first >> 16) + (second >> 16) + second_length * ((first & 0xFFFF) - 1)) % _ADLER_MOD
    return (s2 << 16) | s1


def _segment(raw: bytes) -> bytes:
    """Raw deflate data of `raw` that refers to nothing before it and ends byte-aligned in a
    non-final block: such segments concatenate into one valid deflate stream."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    return compressor.compress(raw) + compressor.flush(zlib.Z_FULL_FLUSH)


@lru_cache(maxsize=64)
def _zero_rows(row_bytes: int, rows: int) -> tuple[bytes, int, int]:
    """`rows` Up-filtered rows equal to the row above (filter byte 2, then zeros): their
    deflate segment, Adler-32 and raw length."""
    raw = (b"\x02" + bytes(row_bytes)) * rows
    return _segment(raw), zlib.adler32(raw), len(raw)


def _zlib_rows(width: int, height: int, pixel: bytes) -> bytes:
    """The zlib stream of a solid image's filtered rows (what the IDAT chunk carries)."""
    row_bytes = width * len(pixel)
    first = b"\x01" + pixel + bytes(row_bytes - len(pixel))  # Sub: every pixel as its left one
    parts = [_ZLIB_HEADER, _segment(first)]
    adler = zlib.adler32(first)
    per_block = max(1, _BLOCK_BYTES // (row_bytes + 1))
    blocks, rest = divmod(height - 1, per_block)
    if blocks:
        data, check, length = _zero_rows(row_bytes, per_block)
        parts.append(data * blocks)
        for _ in range(blocks):
            adler = _adler32_combine(adler, check, length)
    if rest:
        data, check, length = _zero_rows(row_bytes, rest)
        parts.append(data)
        adler = _adler32_combine(adler, check, length)
    parts.append(_FINAL_BLOCK)
    parts.append(struct.pack(">I", adler))
    return b"".join(parts)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@lru_cache(maxsize=256)
def solid_png(width: int, height: int, rgb: bytes, transparent: bool = False) -> bytes:
    """A `width` x `height` PNG of one colour: RGB, or RGBA with alpha 0 if `transparent`."""
    pixel = rgb + b"\x00" if transparent else rgb
    colour_type = 6 if transparent else 2
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        (
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", _zlib_rows(width, height, pixel)),
            _chunk(b"IEND", b""),
        )
    )


def image_colour(model: str, prompt: str, index: int) -> bytes:
    """The RGB colour (3 bytes) of image `index` for this model and prompt."""
    key = f"{model}\x00{index}\x00{prompt}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).digest()[:3]


def image_png(
    model: str, prompt: str, index: int, size: str = "1024x1024", *, transparent: bool = False
) -> bytes:
    """The PNG the simulator answers as image `index` of a request.

    Public so that tests (the gateway's too) can compute the expected answer directly."""
    width, height = parse_size(size)
    return solid_png(width, height, image_colour(model, prompt, index), transparent)


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the IHDR of a PNG's first bytes, or None if they are not a PNG's."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def image_kind(data: bytes) -> str | None:
    """The format of a file from its first bytes (its magic): png, jpeg, webp or None."""
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def auto_edit_size(first_image: bytes) -> tuple[int, int]:
    """The size of an edit with `size: "auto"`: its first image's if that is a PNG (each side
    clamped to MIN_SIDE..MAX_SIDE), else AUTO_SIZE. The first 24 bytes are enough."""
    size = png_size(first_image)
    if size is None:
        return AUTO_SIZE
    width, height = (min(MAX_SIDE, max(MIN_SIDE, side)) for side in size)
    return width, height


def _as_list(images: bytes | Sequence[bytes]) -> Sequence[bytes]:
    return [images] if isinstance(images, (bytes, bytearray)) else images


def _digest_of(digests: Sequence[bytes]) -> bytes:
    return hashlib.sha256(b"".join(digests)).digest()


def images_digest(images: bytes | Sequence[bytes]) -> bytes:
    """What an edit's input images put into its colours: SHA-256 over their SHA-256s, in order."""
    return _digest_of([hashlib.sha256(image).digest() for image in _as_list(images)])


def _edit_colour(model: str, prompt: str, index: int, source: bytes) -> bytes:
    key = f"{model}\x00{index}\x00{prompt}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(b"edit\x00" + source + key).digest()[:3]


def edit_colour(model: str, prompt: str, index: int, images: bytes | Sequence[bytes]) -> bytes:
    """The RGB colour (3 bytes) of image `index` of an edit of `images` (one, or the list)."""
    return _edit_colour(model, prompt, index, images_digest(images))


def edit_png(
    model: str,
    prompt: str,
    index: int,
    images: bytes | Sequence[bytes],
    size: str = "auto",
    *,
    transparent: bool = False,
) -> bytes:
    """The PNG the simulator answers as image `index` of an edit of `images` (the bytes of one
    input image, or of each in order); `size` "auto" as the simulator resolves it.

    Public so that tests (the gateway's too) can compute the expected answer directly."""
    images = _as_list(images)
    width, height = auto_edit_size(images[0]) if size == "auto" else parse_size(size)
    colour = edit_colour(model, prompt, index, images)
    return solid_png(width, height, colour, transparent)


# --- images answered as URLs -----------------------------------------------------------------

# One event loop: a plain dict is safe. Per process, like the id counter.
_STORED: OrderedDict[str, bytes] = OrderedDict()


def store_image(png: bytes) -> str:
    """Keep `png` for `GET /_sim/images/<id>.png` (the last MAX_STORED_IMAGES only) and return
    its id. Public for the other modules that answer images as URLs (`ark`)."""
    image_id = new_id("img_")
    _STORED[image_id] = png
    while len(_STORED) > MAX_STORED_IMAGES:
        _STORED.popitem(last=False)
    return image_id


async def stored_image(call: Call) -> web.StreamResponse:
    name = call.request.match_info["name"]
    png = _STORED.get(name.removesuffix(".png")) if name.endswith(".png") else None
    if png is None:
        return render_error(ErrorInfo(404, f"No such image: {name[:100]}", code="not_found"))
    if call.faults.malformed:
        png = png[: len(png) // 2]
    return web.Response(body=png, content_type="image/png", headers={"cache-control": "no-store"})


# --- generation ------------------------------------------------------------------------------


def directive(body: Any) -> str | None:
    """A `[sim ...]` directive in the prompt, if any."""
    if isinstance(body, dict):
        prompt = body.get("prompt")
        if isinstance(prompt, str):
            return find_directive(prompt)
    return None


def usage(prompt: str, images: int, input_images: int = 0) -> dict[str, Any]:
    """The usage the simulator answers for `images` images delivered for `prompt` (and, for an
    edit, `input_images` images sent)."""
    text_tokens = len(prompt.split())
    image_tokens = INPUT_TOKENS_PER_IMAGE * input_images
    input_tokens = text_tokens + image_tokens
    output_tokens = OUTPUT_TOKENS_PER_IMAGE * images
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "output_tokens": output_tokens,
        "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


async def _answer(call: Call, params: ImageParams) -> web.StreamResponse:
    """The images of a generation or an edit, as `call.faults` allow."""
    limit = call.faults.images
    count = params.n if limit is None else min(params.n, limit)
    request = call.request
    data = []
    for index in range(count):
        png = solid_png(params.width, params.height, params.colour(index), params.transparent)
        if params.response_format == "url":
            url = f"{request.scheme}://{request.host}{IMAGE_PATH}/{store_image(png)}.png"
            data.append({"url": url, "revised_prompt": None})
        else:
            encoded = base64.b64encode(png).decode("ascii")
            data.append({"b64_json": encoded, "revised_prompt": None})
    payload = {
        "created": int(time.time()),
        "data": data,
        "background": "transparent" if params.transparent else "opaque",
        "output_format": "png",
        "size": f"{params.width}x{params.height}",
        "quality": params.quality,
        "usage": usage(params.prompt, count, params.input_images),
    }
    return await json_response(call, payload)


async def generations(call: Call) -> web.StreamResponse:
    try:
        params = parse_request(call.body)
    except InvalidRequest as exc:
        return render_error(exc.info)
    return await _answer(call, params)


# --- edits -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of an edit's form: its size, first bytes and SHA-256, never the whole file."""

    name: str
    filename: str | None
    size: int
    head: bytes  # the first _HEAD_BYTES
    digest: bytes  # SHA-256 of the whole file


@dataclass(frozen=True, slots=True)
class TextField:
    """A text part of an edit's form, as sent (decoded when validated)."""

    name: str
    filename: str | None  # set if it was sent as a file
    raw: bytes  # at most MAX_FIELD_BYTES
    charset: str
    truncated: bool  # it was longer than MAX_FIELD_BYTES

    def text(self) -> str | None:
        """The value, or None if it was too long or does not decode."""
        if self.truncated:
            return None
        try:
            return self.raw.decode(self.charset)
        except (LookupError, ValueError):
            return None


_NOT_MULTIPART = (
    "Invalid Content-Type header ({}), expected multipart/form-data. (HINT: If you're using "
    "curl, you can pass -H 'Content-Type: multipart/form-data')"
)
_IMAGE_MIMES = "'image/jpeg', 'image/png', and 'image/webp'"


async def _read_upload(part: BodyPartReader, name: str) -> Upload:
    hasher = hashlib.sha256()
    head = b""
    size = 0
    while chunk := await part.read_chunk(_READ_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
        if len(head) < _HEAD_BYTES:
            head += chunk[: _HEAD_BYTES - len(head)]
    return Upload(name, part.filename, size, head, hasher.digest())


async def _read_text(part: BodyPartReader, name: str) -> TextField:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(_READ_CHUNK):
        if size <= MAX_FIELD_BYTES:  # past that, drain only
            chunks.append(chunk)
        size += len(chunk)
    raw = b"".join(chunks)[:MAX_FIELD_BYTES]
    charset = part.get_charset(default="utf-8")
    return TextField(name, part.filename, raw, charset, size > MAX_FIELD_BYTES)


async def read_edit_form(request: web.Request) -> dict[str, Any]:
    """An edit's form as a dict: `image` the list of its image Uploads (from `image` and
    `image[]` parts, in order), `mask` and `markup` Uploads, `svg` a dict of its `svg[...]`
    parts, every other field a TextField. Streams the body: uploads are hashed, not kept."""
    if request.content_type != MULTIPART:
        raise InvalidRequest(
            _NOT_MULTIPART.format(request.content_type),
            param=None,
            code="invalid_content_type",
        )
    parts: list[Upload | TextField] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, MultipartReader):
                raise InvalidRequest("A nested multipart body is not supported.", param=None)
            name = part.name
            if not name:
                raise InvalidRequest("A part of the form has no name.", param=None)
            if name in FILE_FIELDS:
                parts.append(await _read_upload(part, name))
            else:
                parts.append(await _read_text(part, name))
    except (ValueError, RuntimeError, HttpProcessingError, asyncio.IncompleteReadError):
        raise InvalidRequest(
            "We could not parse the form body of your request.", param=None
        ) from None
    body: dict[str, Any] = {}
    images: list[Upload] = []
    for field in parts:
        name = field.name
        if isinstance(field, Upload) and name in ("image", "image[]"):
            images.append(field)
            continue
        key = name
        if name.startswith("svg[") and name.endswith("]"):  # the SDK's flattened `svg` object
            key = "svg"
            svg = body.setdefault("svg", {})
            if isinstance(svg, dict) and name not in svg:
                svg[name] = field
                continue
        if key in body:
            raise InvalidRequest(
                f"Duplicate parameter: '{key}'.", param=key, code="duplicate_parameter"
            )
        body[key] = field
    if images:
        body["image"] = images
    return body


def edit_directive(body: dict[str, Any]) -> str | None:
    """A `[sim ...]` directive in an edit's prompt, if any."""
    prompt = body.get("prompt")
    if isinstance(prompt, TextField) and prompt.filename is None:
        text = prompt.text()
        if text is not None:
            return find_directive(text)
    return None


def _field_value(field: TextField) -> Any:
    """A text field's value as the validators take it: an integer or boolean when it reads as
    one and the field is one, else the string."""
    name = field.name
    if field.filename is not None:
        raise InvalidRequest(
            f"Invalid type for '{name}': expected a string, but got a file instead.",
            param=name,
            code="invalid_type",
        )
    text = field.text()
    if text is None:
        if field.truncated and name == "prompt":
            raise InvalidRequest(
                f"Invalid 'prompt': string too long. Expected a string with maximum length "
                f"{MAX_PROMPT_CHARS}, but got a longer one ({MAX_FIELD_BYTES}+ bytes).",
                param=name,
                code="string_above_max_length",
            )
        reason = (
            f"longer than {MAX_FIELD_BYTES} bytes"
            if field.truncated
            else f"not valid {field.charset} text"
        )
        raise InvalidRequest(f"Invalid '{name}': the value is {reason}.", param=name)
    if name in INT_FIELDS and _FORM_INT.fullmatch(text):
        return int(text)
    if name == "stream" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _check_upload(
    upload: Upload, param: str, which: str, kinds: tuple[str, ...], max_bytes: int
) -> None:
    if image_kind(upload.head) not in kinds:
        if kinds == ("png",):
            raise InvalidRequest(
                f"Invalid file '{param}'{which}: unsupported format (its bytes are not a PNG "
                "image). Supported file formats are 'image/png'.",
                param=param,
                code="invalid_image_format",
            )
        raise InvalidRequest(
            f"Invalid file '{param}'{which}: unsupported format (its bytes are not a PNG, "
            f"JPEG or WEBP image). Supported file formats are {_IMAGE_MIMES}.",
            param=param,
            code="invalid_image_format",
        )
    if upload.size > max_bytes:
        raise InvalidRequest(
            f"Invalid file '{param}'{which}: {upload.size} bytes, more than the maximum of "
            f"{max_bytes // (1024 * 1024)} MB.",
            param=param,
            code="file_too_large",
        )


def _input_images(images: list[Upload] | None) -> list[Upload]:
    if not images:
        raise InvalidRequest(
            "Missing required parameter: 'image'.",
            param="image",
            code="missing_required_parameter",
        )
    if len(images) > MAX_INPUT_IMAGES:
        raise InvalidRequest(
            f"Invalid 'image': array too long. Expected an array with maximum length "
            f"{MAX_INPUT_IMAGES}, but got an array with length {len(images)} instead.",
            param="image",
            code="array_above_max_length",
        )
    for position, upload in enumerate(images, 1):
        which = "" if len(images) == 1 else f" (image {position} of {len(images)})"
        _check_upload(upload, "image", which, ("png", "jpeg", "webp"), MAX_IMAGE_BYTES)
    return images


def _overlay(body: dict[str, Any], name: str, first: Upload) -> Upload | None:
    """The `mask` or `markup` file, checked: a PNG of the first image's size (when known)."""
    upload = body.get(name)
    if upload is None:
        return None
    _check_upload(upload, name, "", ("png",), MAX_MASK_BYTES)
    size, expected = png_size(upload.head), png_size(first.head)
    if size is not None and expected is not None and size != expected:
        raise InvalidRequest(
            f"Invalid '{name}': it is {size[0]}x{size[1]}, but the image is "
            f"{expected[0]}x{expected[1]}: they must have the same size.",
            param=name,
            code="invalid_value",
        )
    return upload


def parse_edit_request(body: dict[str, Any]) -> ImageParams:
    """Validate an edit's form (from `read_edit_form`) like api.openai.com does."""
    _check_fields(body, KNOWN_EDIT_PARAMS)
    values: dict[str, Any] = {}
    for name, field in body.items():
        if isinstance(field, TextField):
            values[name] = _field_value(field)
        elif name == "svg":
            values[name] = field  # a dict of svg[...] parts: refused by _options
    prompt = _prompt(values)
    model = _model(values)
    images = _input_images(body.get("image"))
    first = images[0]
    mask = _overlay(body, "mask", first)
    if _overlay(body, "markup", first) is not None and mask is not None:
        raise InvalidRequest(
            "'markup' cannot be combined with 'mask': give one of them.",
            param="markup",
            code="invalid_value",
        )
    if values.get("size") in (None, "auto"):
        width, height = auto_edit_size(first.head)
    else:
        width, height = _size(values)
    options = _options(values, what="image edits")
    _enum(values, "input_fidelity", INPUT_FIDELITIES)
    return ImageParams(
        model=model,
        prompt=prompt,
        n=options.n,
        width=width,
        height=height,
        quality=options.quality,
        response_format=options.response_format,
        transparent=options.transparent,
        source=_digest_of([upload.digest for upload in images]),
        input_images=len(images),
    )


async def directive_faults(call: Call, spec: str) -> tuple[Faults, web.StreamResponse | None]:
    """Merge the prompt's directive into the request's faults and apply its server-level
    ones, which the server could not (it did not read the body): (faults, early answer)."""
    try:
        extra = parse_spec(spec)
    except FaultSpecError as exc:
        return call.faults, render_error(ErrorInfo(400, f"simulator: bad fault spec: {exc}"))
    faults = dataclasses.replace(call.faults, **extra)
    if "latency_ms" in extra and faults.latency_ms > call.faults.latency_ms:
        await asyncio.sleep((faults.latency_ms - call.faults.latency_ms) / 1000)
    if "hang_s" in extra and faults.hang_s > call.faults.hang_s:
        await asyncio.sleep(faults.hang_s - call.faults.hang_s)
    if "reset" in extra and faults.reset:
        return faults, reset_connection(call.request)
    if faults.status is not None:
        info = ErrorInfo(faults.status, code=faults.code, retry_after=faults.retry_after)
        return faults, render_error(info)
    return faults, None


async def edits(call: Call) -> web.StreamResponse:
    try:
        body = await read_edit_form(call.request)
    except InvalidRequest as exc:
        return render_error(exc.info)
    spec = edit_directive(body)
    if spec is not None:
        faults, early = await directive_faults(call, spec)
        if early is not None:
            return early
        call = dataclasses.replace(call, faults=faults)
    try:
        params = parse_edit_request(body)
    except InvalidRequest as exc:
        return render_error(exc.info)
    return await _answer(call, params)


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/images/generations",
        generations,
        render_error,
        directive=directive,
        json_body=True,
    ),
    # No json_body: the body is multipart, so `edits` reads it (and the directive) itself.
    Endpoint("POST", "/v1/images/edits", edits, render_error),
    Endpoint("GET", IMAGE_PATH + "/{name}", stored_image, render_error),
]
