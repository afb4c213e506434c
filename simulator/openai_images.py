"""OpenAI image generation: `POST /v1/images/generations` (not streamed), and
`GET /_sim/images/<id>.png` for the images it answers as URLs.

Images are real, valid PNGs of the requested size, each one solid colour: the first three
bytes of SHA-256 over (model, index, prompt), 8-bit RGB (colour type 2), or RGBA with alpha 0
(colour type 6) for `background: "transparent"`. So:

* the same model, prompt and index give the same image in every run and process, and the `n`
  images of one request differ (`image_colour`, `image_png` give the exact bytes for tests);
* an image costs well under a millisecond, whatever its size: the first row is Sub-filtered
  (the pixel, then zeros) and the others Up-filtered (all zeros), the deflate data of a block
  of zero rows is made once per width and repeated (the Adler-32 combined arithmetically), so a
  1024x1024 PNG is about 5 KB and no pixel is ever visited in Python.

The answer has one shape for every model (no per-model rules, e.g. dall-e-3's n=1):

    {"created": <unix time>,
     "data": [{"b64_json": "<PNG, base64>", "revised_prompt": null}, ...],
     "background": "opaque" | "transparent", "output_format": "png", "size": "<W>x<H>",
     "quality": <as asked; auto: "high">,
     "usage": {"input_tokens": P, "input_tokens_details": {"text_tokens": P, "image_tokens": 0},
               "output_tokens": O, "output_tokens_details": {"image_tokens": O, "text_tokens": 0},
               "total_tokens": P + O}}

* Usage: P = the number of whitespace-separated words of the prompt (directive included);
  O = `OUTPUT_TOKENS_PER_IMAGE` (100) per image delivered.
* `response_format: "url"`: items carry `"url": "http://<Host>/_sim/images/<id>.png"` instead of
  `b64_json`, a URL on the simulator itself (from the request's Host header). The last
  `MAX_STORED_IMAGES` (256) such images are kept in memory (per process, not cleared by
  `/_sim/reset`), the oldest dropped: a 404 after that. The default is `b64_json` for every
  model (OpenAI's DALL·E models default to `url`).
* `size`: "auto" is 1024x1024; besides OpenAI's listed sizes, any `<W>x<H>` with both sides
  64..4096 is made.
* `output_format` "jpeg" and "webp" are accepted but the image is a PNG all the same and the
  answer says `"output_format": "png"`; "gif" and "svg" are a 400 (not simulated), and so are
  their parameters `frame_count`, `frame_duration_ms`, `svg` unless null. `moderation`,
  `output_compression`, `style`, `complexity`, `partial_images`, `user`, `safety_identifier`
  are checked, then ignored.

Faults: the server-applied ones (`latency_ms`, `hang_s`, `reset`, `status` with `retry_after`
and `code`), then `malformed` (half the JSON, status 200) and `cut_after` (announced length,
half sent) exactly as for embeddings. `images=N` delivers only the first min(n, N) images
(N=0: `"data": []`), usage counting those only: a partial failure. `tokens` and
`tokens_per_second` are ignored. The `[sim ...]` directive is looked for in `prompt`.
The image URL route is an endpoint like the others (also under `/s/<scope>/`, counted in the
stats): its scope's server-applied faults apply to it, and `malformed` sends half the PNG.

Validation (400, OpenAI envelope, `param` set): a body that is not an object; unknown
top-level fields (`unknown_parameter`; known: every field of the SDK's ImageGenerateParams);
`prompt` missing, not a string, empty or longer than 32000 characters; `model` not a non-empty
string (absent: "dall-e-2"); `n` not an integer in 1..10; `size` not "auto", a listed size or a
`<W>x<H>` in range; `quality`, `response_format`, `output_format`, `background`, `moderation`,
`style`, `complexity` outside their values; `output_compression` outside 0..100,
`partial_images` outside 0..3; `user`, `safety_identifier` not strings; `stream` not a boolean,
or true (streaming is not simulated); a transparent background with `output_format: "jpeg"`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web

from simulator.endpoint import Call, Endpoint
from simulator.faults import ErrorInfo, find_directive
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
# Parameters of GIF and SVG output, which the simulator does not make: a 400 unless null.
UNSIMULATED_PARAMS = ("frame_count", "frame_duration_ms", "svg")
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


def parse_request(body: Any) -> ImageParams:
    """Validate like api.openai.com does (same messages, params and codes where we know them)."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}.",
            param=None,
            code="invalid_type",
        )
    for key in body:
        if key not in KNOWN_PARAMS:
            raise InvalidRequest(
                f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter"
            )
    prompt = _prompt(body)
    model = body.get("model")
    if model is None:
        model = DEFAULT_MODEL
    elif not isinstance(model, str) or not model:
        raise _wrong_type("model", "a non-empty string", model)
    n = _int_in(body, "n", 1, MAX_IMAGES) or 1
    width, height = _size(body)
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
    _enum(body, "moderation", MODERATIONS)
    _enum(body, "style", STYLES)
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
            "Streaming is not supported by this simulator's image generation: leave 'stream' "
            "out or set it to false.",
            param="stream",
            code="unsupported_value",
        )
    return ImageParams(
        model=model,
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        quality=AUTO_QUALITY if quality == "auto" else quality,
        response_format=response_format,
        transparent=background == "transparent",
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


# --- images answered as URLs -----------------------------------------------------------------

# One event loop: a plain dict is safe. Per process, like the id counter.
_STORED: OrderedDict[str, bytes] = OrderedDict()


def _store(png: bytes) -> str:
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


def usage(prompt: str, images: int) -> dict[str, Any]:
    """The usage the simulator answers for `images` images delivered for `prompt`."""
    input_tokens = len(prompt.split())
    output_tokens = OUTPUT_TOKENS_PER_IMAGE * images
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"text_tokens": input_tokens, "image_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


async def generations(call: Call) -> web.StreamResponse:
    try:
        params = parse_request(call.body)
    except InvalidRequest as exc:
        return render_error(exc.info)

    limit = call.faults.images
    count = params.n if limit is None else min(params.n, limit)
    request = call.request
    data = []
    for index in range(count):
        png = solid_png(
            params.width,
            params.height,
            image_colour(params.model, params.prompt, index),
            params.transparent,
        )
        if params.response_format == "url":
            url = f"{request.scheme}://{request.host}{IMAGE_PATH}/{_store(png)}.png"
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
        "usage": usage(params.prompt, count),
    }
    return await json_response(call, payload)


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/images/generations",
        generations,
        render_error,
        directive=directive,
        json_body=True,
    ),
    Endpoint("GET", IMAGE_PATH + "/{name}", stored_image, render_error),
]
