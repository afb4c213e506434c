"""The simulator's OpenAI image generation and edit endpoints, over real HTTP (requests and
the official SDK).

One simulator process serves the whole module; every test starts from a reset. No Django.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from simulator.openai_images import (
    INPUT_TOKENS_PER_IMAGE,
    MAX_IMAGE_BYTES,
    MAX_INPUT_IMAGES,
    MAX_MASK_BYTES,
    MAX_STORED_IMAGES,
    OUTPUT_TOKENS_PER_IMAGE,
    edit_colour,
    edit_png,
    image_colour,
    image_png,
    solid_png,
)
from simulator.testing import SimulatorProcess

MODEL = "gpt-image-1"
PROMPT = "A watercolour fox in the snow"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def generate(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    timeout: float | tuple[float, float] = 5,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> requests.Response:
    body.setdefault("model", MODEL)
    body.setdefault("prompt", PROMPT)
    return http.post(
        sim.url(scope) + "/images/generations", json=body, timeout=timeout, headers=headers
    )


def sdk(base_url: str, **kwargs: Any) -> OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5)
    return OpenAI(base_url=base_url, api_key="x", **kwargs)


def decode_png(data: bytes) -> tuple[dict[str, int], bytes]:
    """IHDR fields and the decompressed IDAT data; checks the signature, chunk CRCs, order."""
    assert data[:8] == PNG_SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour_type, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (compression, filtering, interlace) == (0, 0, 0)
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")
    header = {"width": width, "height": height, "depth": depth, "colour_type": colour_type}
    return header, zlib.decompress(idat)  # zlib checks the Adler-32 too


def _paeth(left: int, up: int, up_left: int) -> int:
    p = left + up - up_left
    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
    if pa <= pb and pa <= pc:
        return left
    return up if pb <= pc else up_left


def pixels(raw: bytes, width: int, height: int, bpp: int) -> set[bytes]:
    """The distinct pixels of 8-bit filtered scanlines (any PNG filter; small images only)."""
    stride = width * bpp
    assert len(raw) == height * (1 + stride)
    previous = bytearray(stride)
    found: set[bytes] = set()
    for y in range(height):
        start = y * (1 + stride)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up_left = previous[i - bpp] if i >= bpp else 0
            up = previous[i]
            predictor = (0, left, up, (left + up) // 2, _paeth(left, up, up_left))[kind]
            line[i] = (line[i] + predictor) & 0xFF
        found.update(bytes(line[i : i + bpp]) for i in range(0, stride, bpp))
        previous = line
    return found


def b64_images(body: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(item["b64_json"]) for item in body["data"]]


# --- protocol -------------------------------------------------------------------------------


def test_default_answer_shape_and_usage(http, sim):
    before = int(time.time())
    response = generate(http, sim)

    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert set(body) == {
        "created",
        "data",
        "background",
        "output_format",
        "size",
        "quality",
        "usage",
    }
    assert before <= body["created"] <= time.time() + 1
    assert (body["background"], body["output_format"]) == ("opaque", "png")
    assert (body["size"], body["quality"]) == ("1024x1024", "high")  # both "auto"
    [item] = body["data"]
    assert set(item) == {"b64_json", "revised_prompt"}
    assert item["revised_prompt"] is None
    words = len(PROMPT.split())
    assert body["usage"] == {
        "input_tokens": words,
        "input_tokens_details": {"text_tokens": words, "image_tokens": 0},
        "output_tokens": OUTPUT_TOKENS_PER_IMAGE,
        "output_tokens_details": {"image_tokens": OUTPUT_TOKENS_PER_IMAGE, "text_tokens": 0},
        "total_tokens": words + OUTPUT_TOKENS_PER_IMAGE,
    }


def test_n_images_are_distinct_and_deterministic(http, sim):
    first = b64_images(generate(http, sim, n=3, size="256x256").json())
    again = b64_images(generate(http, sim, n=3, size="256x256").json())

    assert first == again
    assert len(set(first)) == 3
    assert first == [image_png(MODEL, PROMPT, i, "256x256") for i in range(3)]
    other = b64_images(generate(http, sim, prompt="A different prompt", size="256x256").json())
    assert other[0] not in first
    other_model = b64_images(generate(http, sim, model="dall-e-3", size="256x256").json())
    assert other_model[0] not in first


@pytest.mark.parametrize(
    ("size", "width", "height"),
    [
        ("1024x1024", 1024, 1024),
        ("1536x1024", 1536, 1024),
        ("1024x1536", 1024, 1536),
        ("1792x1024", 1792, 1024),
        ("auto", 1024, 1024),
        ("640x360", 640, 360),
        ("4096x64", 4096, 64),
    ],
)
def test_the_png_decodes_to_the_requested_size(http, sim, size, width, height):
    body = generate(http, sim, size=size).json()
    assert body["size"] == f"{width}x{height}"
    [png] = b64_images(body)

    header, raw = decode_png(png)
    assert header == {"width": width, "height": height, "depth": 8, "colour_type": 2}
    assert len(raw) == height * (1 + width * 3)  # a filter byte, then RGB per row
    assert len(png) < 20_000  # a solid colour compresses well


def test_every_pixel_is_the_colour_of_model_prompt_and_index(http, sim):
    body = generate(http, sim, n=2, size="64x96").json()
    for index, png in enumerate(b64_images(body)):
        header, raw = decode_png(png)
        assert (header["width"], header["height"]) == (64, 96)
        assert pixels(raw, 64, 96, 3) == {image_colour(MODEL, PROMPT, index)}


def test_a_transparent_background_is_rgba_with_alpha_zero(http, sim):
    body = generate(http, sim, background="transparent", size="64x64").json()
    assert body["background"] == "transparent"
    [png] = b64_images(body)

    header, raw = decode_png(png)
    assert header["colour_type"] == 6
    assert len(raw) == 64 * (1 + 64 * 4)
    assert pixels(raw, 64, 64, 4) == {image_colour(MODEL, PROMPT, 0) + b"\x00"}
    assert png == image_png(MODEL, PROMPT, 0, "64x64", transparent=True)


def test_defaults_and_accepted_options(http, sim):
    response = http.post(sim.url() + "/images/generations", json={"prompt": PROMPT}, timeout=5)
    [png] = b64_images(response.json())
    assert png == image_png("dall-e-2", PROMPT, 0)  # the model when none is given

    body = generate(
        http,
        sim,
        size="512x512",
        quality="standard",
        output_format="jpeg",  # answered as a PNG, and said so
        output_compression=80,
        background="opaque",
        moderation="low",
        style="vivid",
        complexity="low",
        partial_images=0,
        user="u-1",
        safety_identifier="s-1",
        stream=False,
        frame_count=None,
        response_format="b64_json",
    ).json()
    assert (body["size"], body["quality"], body["output_format"]) == ("512x512", "standard", "png")
    assert decode_png(b64_images(body)[0])[0]["width"] == 512


# --- URLs -----------------------------------------------------------------------------------


def test_url_mode_links_to_the_same_png_on_the_simulator(http, sim):
    body = generate(http, sim, response_format="url", n=2, size="256x256").json()

    assert len(body["data"]) == 2
    urls = []
    for index, item in enumerate(body["data"]):
        assert set(item) == {"url", "revised_prompt"}
        url = item["url"]
        assert url.startswith(sim.base_url + "/_sim/images/img_") and url.endswith(".png")
        fetched = http.get(url, timeout=5)
        assert fetched.status_code == 200
        assert fetched.headers["content-type"] == "image/png"
        assert fetched.content == image_png(MODEL, PROMPT, index, "256x256")
        urls.append(url)
    assert len(set(urls)) == 2

    scoped = generate(http, sim, "route-a", response_format="url").json()
    assert scoped["data"][0]["url"].startswith(sim.base_url + "/_sim/images/")
    assert sim.stats()["scopes"]["default"]["endpoints"] == {
        "POST /v1/images/generations": 1,
        "GET /_sim/images/{name}": 2,
    }


def test_an_unknown_image_is_a_404(http, sim):
    for name in ("img_nope.png", "img_nope", "x.jpg"):
        response = http.get(sim.base_url + "/_sim/images/" + name, timeout=5)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_stored_images_are_bounded_oldest_dropped(http, sim):
    urls: list[str] = []
    while len(urls) <= MAX_STORED_IMAGES:
        body = generate(http, sim, response_format="url", n=10, size="64x64").json()
        urls.extend(item["url"] for item in body["data"])

    assert http.get(urls[0], timeout=5).status_code == 404
    assert http.get(urls[-MAX_STORED_IMAGES], timeout=5).status_code == 200
    assert http.get(urls[-1], timeout=5).status_code == 200


def test_the_image_url_has_its_scope_faults(http, sim):
    url = generate(http, sim, response_format="url", size="64x64").json()["data"][0]["url"]
    whole = http.get(url, timeout=5).content

    sim.set_fault(malformed=True, times=1)
    assert http.get(url, timeout=5).content == whole[: len(whole) // 2]
    sim.set_fault(status=503, times=1)
    assert http.get(url, timeout=5).status_code == 503
    assert http.get(url, timeout=5).content == whole


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": MODEL}, "prompt", "missing_required_parameter"),
        ({"prompt": None}, "prompt", "missing_required_parameter"),
        ({"prompt": ["a cat"]}, "prompt", "invalid_type"),
        ({"prompt": ""}, "prompt", "empty_string"),
        ({"prompt": "x" * 32_001}, "prompt", "string_above_max_length"),
        ({"prompt": "a", "model": 5}, "model", "invalid_type"),
        ({"prompt": "a", "model": ""}, "model", "invalid_type"),
        ({"prompt": "a", "n": 0}, "n", "integer_below_min_value"),
        ({"prompt": "a", "n": 11}, "n", "integer_above_max_value"),
        ({"prompt": "a", "n": "2"}, "n", "invalid_type"),
        ({"prompt": "a", "n": True}, "n", "invalid_type"),
        ({"prompt": "a", "n": 1.5}, "n", "invalid_type"),
        ({"prompt": "a", "size": "big"}, "size", "invalid_value"),
        ({"prompt": "a", "size": "32x32"}, "size", "invalid_value"),
        ({"prompt": "a", "size": "4097x1024"}, "size", "invalid_value"),
        ({"prompt": "a", "size": "1024X1024"}, "size", "invalid_value"),
        ({"prompt": "a", "size": 1024}, "size", "invalid_type"),
        ({"prompt": "a", "quality": "ultra"}, "quality", "invalid_value"),
        ({"prompt": "a", "response_format": "png"}, "response_format", "invalid_value"),
        ({"prompt": "a", "output_format": "bmp"}, "output_format", "invalid_value"),
        ({"prompt": "a", "output_format": "gif"}, "output_format", "unsupported_value"),
        ({"prompt": "a", "background": "clear"}, "background", "invalid_value"),
        (
            {"prompt": "a", "background": "transparent", "output_format": "jpeg"},
            "background",
            "invalid_value",
        ),
        ({"prompt": "a", "moderation": "high"}, "moderation", "invalid_value"),
        ({"prompt": "a", "style": "pretty"}, "style", "invalid_value"),
        ({"prompt": "a", "complexity": 3}, "complexity", "invalid_type"),
        ({"prompt": "a", "output_compression": 101}, "output_compression", None),
        ({"prompt": "a", "partial_images": 4}, "partial_images", None),
        ({"prompt": "a", "user": 5}, "user", "invalid_type"),
        ({"prompt": "a", "safety_identifier": []}, "safety_identifier", "invalid_type"),
        ({"prompt": "a", "frame_count": 9}, "frame_count", "unsupported_parameter"),
        ({"prompt": "a", "stream": "yes"}, "stream", "invalid_type"),
        ({"prompt": "a", "stream": True}, "stream", "unsupported_value"),
        ({"prompt": "a", "seed": 1}, "seed", "unknown_parameter"),
        (["a cat"], None, "invalid_type"),
    ],
)
def test_invalid_requests_get_a_400_in_openai_shape(http, sim, body, param, code):
    response = http.post(sim.url() + "/images/generations", json=body, timeout=5)

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert error["param"] == param
    if code:
        assert error["code"] == code


def test_streaming_is_refused_with_a_clear_message(http, sim):
    error = generate(http, sim, stream=True).json()["error"]
    assert "not supported by this simulator" in error["message"]


def test_a_body_that_is_not_json_is_a_400(http, sim):
    response = http.post(
        sim.url() + "/images/generations",
        data=b"{nope",
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- the official SDK -----------------------------------------------------------------------


def test_the_openai_sdk_parses_the_answer(sim):
    result = sdk(sim.url()).images.generate(model=MODEL, prompt="a cat", n=2, size="1024x1024")

    assert len(result.data) == 2
    assert (result.size, result.quality, result.output_format) == ("1024x1024", "high", "png")
    assert result.background == "opaque"
    for index, image in enumerate(result.data):
        png = base64.b64decode(image.b64_json)
        assert png == image_png(MODEL, "a cat", index)
        assert decode_png(png)[0]["width"] == 1024
        assert image.url is None and image.revised_prompt is None
    assert result.usage.input_tokens == result.usage.input_tokens_details.text_tokens == 2
    assert result.usage.output_tokens == 2 * OUTPUT_TOKENS_PER_IMAGE
    assert result.usage.total_tokens == 2 + 2 * OUTPUT_TOKENS_PER_IMAGE


def test_the_sdk_gets_urls_and_typed_errors(sim):
    client = sdk(sim.url())
    result = client.images.generate(model="dall-e-2", prompt="a cat", response_format="url")
    assert result.data[0].url.startswith(sim.base_url + "/_sim/images/")

    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=MODEL, prompt="a cat", n=11)
    assert caught.value.body["param"] == "n"
    with pytest.raises(openai.RateLimitError):
        sdk(sim.url("status=429")).images.generate(model=MODEL, prompt="a cat")
    with pytest.raises(openai.InternalServerError):
        sdk(sim.url("status=503")).images.generate(model=MODEL, prompt="a cat")


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (429, "requests"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
def test_status_fault_answers_an_openai_error(http, sim, status, error_type):
    response = generate(http, sim, f"status={status}")

    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type
    if status == 429:
        assert response.headers["retry-after"] == "1"
    else:
        assert "retry-after" not in response.headers


def test_images_fault_delivers_fewer_images(http, sim):
    body = generate(http, sim, "images=1", n=3, size="64x64").json()
    assert b64_images(body) == [image_png(MODEL, PROMPT, 0, "64x64")]
    assert body["usage"]["output_tokens"] == OUTPUT_TOKENS_PER_IMAGE

    assert len(generate(http, sim, "images=5", n=3, size="64x64").json()["data"]) == 3
    empty = generate(http, sim, "images=0", n=2, size="64x64").json()
    assert empty["data"] == [] and empty["usage"]["output_tokens"] == 0

    prompt = "two cats [sim images=2]"
    body = generate(http, sim, prompt=prompt, n=4, size="64x64").json()
    assert len(body["data"]) == 2
    assert body["usage"]["input_tokens"] == len(prompt.split()) == 4

    headed = generate(http, sim, n=2, size="64x64", headers={"x-sim-fault": "images=1"})
    assert len(headed.json()["data"]) == 1
    assert generate(http, sim, "images=11").status_code == 400  # a bad fault spec


def test_malformed_is_a_200_that_does_not_parse(http, sim):
    response = generate(http, sim, "malformed", size="64x64")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_cut_after_sends_half_a_body(http, sim):
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        generate(http, sim, "cut_after=0")


def test_latency_reset_and_hang(http, sim):
    started = time.monotonic()
    assert generate(http, sim, "latency_ms=200", size="64x64").status_code == 200
    assert time.monotonic() - started >= 0.2

    with pytest.raises(requests.ConnectionError):
        generate(http, sim, "reset")
    with pytest.raises(openai.APIConnectionError):
        sdk(sim.url("reset")).images.generate(model=MODEL, prompt="a cat")
    with pytest.raises(requests.ReadTimeout):
        generate(http, sim, "hang_s=2", timeout=(2, 0.3))


def test_faults_come_from_the_control_api_header_and_directive(http, sim):
    sim.set_fault("img", status=502, times=1)
    assert [generate(http, sim, "img", size="64x64").status_code for _ in range(2)] == [502, 200]

    response = generate(http, sim, headers={"x-sim-fault": "status=429,retry_after=4"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "4"

    assert generate(http, sim, prompt="a cat [sim status=503]").status_code == 503
    assert generate(http, sim, prompt="[sim bogus=1]").status_code == 400
    assert sim.stats()["scopes"]["img"]["endpoints"] == {"POST /v1/images/generations": 2}


# --- edits ----------------------------------------------------------------------------------

EDIT_PROMPT = "make it blue"
INPUT_PNG = solid_png(96, 64, b"\x10\x20\x30")  # 96x64, the size "auto" answers
OTHER_PNG = solid_png(96, 64, b"\x10\x20\x31")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)  # only the magic bytes matter
WEBP = b"RIFF\x40\x00\x00\x00WEBPVP8 " + bytes(64)


def edit(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    images: list[bytes] | None = None,
    image_field: str = "image",
    files: list[tuple[str, Any]] | None = None,
    timeout: float | tuple[float, float] = 5,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> requests.Response:
    """A multipart edit (always, even without files): the text `fields` (None: left out),
    `images` (default: INPUT_PNG) as `image_field` parts, then `files`."""
    fields.setdefault("model", MODEL)
    fields.setdefault("prompt", EDIT_PROMPT)
    parts: list[tuple[str, Any]] = [
        (key, (None, str(value))) for key, value in fields.items() if value is not None
    ]
    parts.extend(
        (image_field, (f"in{i}.png", data, "image/png"))
        for i, data in enumerate([INPUT_PNG] if images is None else images)
    )
    parts.extend(files or [])
    return http.post(
        sim.url(scope) + "/images/edits", files=parts, timeout=timeout, headers=headers
    )


def edit_error(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    return error


def test_the_sdk_edits_an_image(sim):
    result = sdk(sim.url()).images.edit(
        model=MODEL, image=("in.png", INPUT_PNG, "image/png"), prompt=EDIT_PROMPT, n=2
    )

    assert len(result.data) == 2
    assert (result.size, result.quality, result.output_format) == ("96x64", "high", "png")
    assert result.background == "opaque"
    pngs = [base64.b64decode(image.b64_json) for image in result.data]
    assert pngs == [edit_png(MODEL, EDIT_PROMPT, i, INPUT_PNG) for i in range(2)]
    assert pngs[0] != pngs[1]
    header, raw = decode_png(pngs[0])
    assert header == {"width": 96, "height": 64, "depth": 8, "colour_type": 2}
    assert pixels(raw, 96, 64, 3) == {edit_colour(MODEL, EDIT_PROMPT, 0, INPUT_PNG)}
    usage = result.usage
    assert usage.input_tokens_details.text_tokens == 3
    assert usage.input_tokens_details.image_tokens == INPUT_TOKENS_PER_IMAGE
    assert usage.input_tokens == 3 + INPUT_TOKENS_PER_IMAGE
    assert usage.output_tokens == 2 * OUTPUT_TOKENS_PER_IMAGE
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert sim.stats()["scopes"]["default"]["endpoints"] == {"POST /v1/images/edits": 1}


def test_an_edit_is_deterministic_and_depends_on_the_input_image(http, sim):
    first = b64_images(edit(http, sim, n=2).json())
    assert b64_images(edit(http, sim, n=2).json()) == first

    other_image = b64_images(edit(http, sim, images=[OTHER_PNG], n=2).json())
    assert other_image == [edit_png(MODEL, EDIT_PROMPT, i, OTHER_PNG) for i in range(2)]
    assert set(other_image).isdisjoint(first)
    other_prompt = b64_images(edit(http, sim, prompt="make it red").json())
    other_model = b64_images(edit(http, sim, model="gpt-image-1.5").json())
    generated = image_png(MODEL, EDIT_PROMPT, 0, "96x64")
    assert len({first[0], other_prompt[0], other_model[0], generated}) == 4


def test_several_images_all_count_in_order(http, sim):
    images = [INPUT_PNG, JPEG, WEBP]
    result = sdk(sim.url()).images.edit(
        model=MODEL,
        image=[(f"in{i}", data, "application/octet-stream") for i, data in enumerate(images)],
        prompt=EDIT_PROMPT,
    )
    [png] = [base64.b64decode(image.b64_json) for image in result.data]
    assert png == edit_png(MODEL, EDIT_PROMPT, 0, images)
    assert png != edit_png(MODEL, EDIT_PROMPT, 0, INPUT_PNG)
    assert result.size == "96x64"  # the first image's size
    assert result.usage.input_tokens_details.image_tokens == 3 * INPUT_TOKENS_PER_IMAGE

    # `image[]` (the SDK's) and repeated `image` parts are the same; the order matters.
    as_brackets = edit(http, sim, images=images, image_field="image[]").json()
    as_repeated = edit(http, sim, images=images).json()
    assert b64_images(as_brackets) == b64_images(as_repeated) == [png]
    mixed = edit(http, sim, images=[INPUT_PNG], files=[("image[]", ("b", JPEG)), ("image", WEBP)])
    assert b64_images(mixed.json()) == [png]
    swapped = edit(http, sim, images=[INPUT_PNG, WEBP, JPEG]).json()
    assert b64_images(swapped) != [png]

    assert edit(http, sim, images=[INPUT_PNG] * MAX_INPUT_IMAGES).status_code == 200
    error = edit_error(edit(http, sim, images=[INPUT_PNG] * (MAX_INPUT_IMAGES + 1)))
    assert (error["param"], error["code"]) == ("image", "array_above_max_length")


def test_size_auto_comes_from_a_png_input_else_1024(http, sim):
    assert edit(http, sim).json()["size"] == "96x64"
    assert edit(http, sim, size="auto").json()["size"] == "96x64"
    for other in (JPEG, WEBP):
        body = edit(http, sim, images=[other]).json()
        assert body["size"] == "1024x1024"
        assert b64_images(body) == [edit_png(MODEL, EDIT_PROMPT, 0, other)]
    tall = solid_png(32, 5000, b"\x00\x00\x00")  # clamped to 64..4096 per side
    assert edit(http, sim, images=[tall]).json()["size"] == "64x4096"

    body = edit(http, sim, size="256x256", images=[JPEG]).json()
    assert body["size"] == "256x256"
    assert b64_images(body) == [edit_png(MODEL, EDIT_PROMPT, 0, JPEG, "256x256")]


def test_a_transparent_edit_and_the_accepted_options(http, sim):
    body = edit(
        http,
        sim,
        background="transparent",
        quality="low",
        output_format="webp",
        output_compression=80,
        input_fidelity="high",
        partial_images=0,
        user="u-1",
        safety_identifier="s-1",
        complexity="low",
        stream="false",
        response_format="b64_json",
    ).json()
    assert (body["background"], body["quality"], body["output_format"]) == (
        "transparent",
        "low",
        "png",
    )
    [png] = b64_images(body)
    assert png == edit_png(MODEL, EDIT_PROMPT, 0, INPUT_PNG, transparent=True)
    assert decode_png(png)[0]["colour_type"] == 6

    response = http.post(
        sim.url() + "/images/edits",
        data={"prompt": EDIT_PROMPT},
        files={"image": ("in.png", INPUT_PNG)},
        timeout=5,
    )
    assert b64_images(response.json()) == [edit_png("dall-e-2", EDIT_PROMPT, 0, INPUT_PNG)]


def test_a_mask_or_markup_is_checked_then_ignored(http, sim):
    mask = solid_png(96, 64, b"\x00\x00\x00", True)
    plain = b64_images(edit(http, sim).json())
    result = sdk(sim.url()).images.edit(
        model=MODEL,
        image=("in.png", INPUT_PNG, "image/png"),
        mask=("mask.png", mask, "image/png"),
        prompt=EDIT_PROMPT,
    )
    assert [base64.b64decode(image.b64_json) for image in result.data] == plain
    assert b64_images(edit(http, sim, files=[("markup", ("m.png", mask))]).json()) == plain

    cases = [
        ([("mask", ("m.jpg", JPEG))], "mask", "invalid_image_format"),
        ([("mask", ("m.png", solid_png(64, 64, b"\x00\x00\x00")))], "mask", "invalid_value"),
        ([("mask", ("m.png", mask)), ("mask", ("m.png", mask))], "mask", "duplicate_parameter"),
        ([("markup", ("m.txt", b"nope"))], "markup", "invalid_image_format"),
        ([("mask", ("m.png", mask)), ("markup", ("k.png", mask))], "markup", "invalid_value"),
    ]
    for files, param, code in cases:
        error = edit_error(edit(http, sim, files=files))
        assert (error["param"], error["code"]) == (param, code), files
    big_mask = PNG_SIGNATURE + bytes(MAX_MASK_BYTES)
    error = edit_error(edit(http, sim, images=[JPEG], files=[("mask", ("m.png", big_mask))]))
    assert (error["param"], error["code"]) == ("mask", "file_too_large")


@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
        ({"images": []}, "image", "missing_required_parameter"),
        ({"images": [b"hello, world"]}, "image", "invalid_image_format"),
        ({"images": [b""]}, "image", "invalid_image_format"),
        ({"images": [INPUT_PNG, b"GIF89a" + bytes(20)]}, "image", "invalid_image_format"),
        ({"prompt": None}, "prompt", "missing_required_parameter"),
        ({"prompt": ""}, "prompt", "empty_string"),
        ({"prompt": "x" * 32_001}, "prompt", "string_above_max_length"),
        ({"files": [("prompt", ("p.txt", b"a cat"))], "prompt": None}, "prompt", "invalid_type"),
        ({"model": ""}, "model", "invalid_type"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"n": 11}, "n", "integer_above_max_value"),
        ({"n": "two"}, "n", "invalid_type"),
        ({"size": "big"}, "size", "invalid_value"),
        ({"size": "32x32"}, "size", "invalid_value"),
        ({"quality": "ultra"}, "quality", "invalid_value"),
        ({"response_format": "png"}, "response_format", "invalid_value"),
        ({"output_format": "gif"}, "output_format", "unsupported_value"),
        ({"background": "transparent", "output_format": "jpeg"}, "background", "invalid_value"),
        ({"input_fidelity": "medium"}, "input_fidelity", "invalid_value"),
        ({"output_compression": 101}, "output_compression", "integer_above_max_value"),
        ({"partial_images": 4}, "partial_images", "integer_above_max_value"),
        ({"stream": "true"}, "stream", "unsupported_value"),
        ({"stream": "maybe"}, "stream", "invalid_type"),
        ({"frame_count": 9}, "frame_count", "unsupported_parameter"),
        ({"files": [("svg[model]", (None, "m"))]}, "svg", "unsupported_parameter"),
        ({"seed": 1}, "seed", "unknown_parameter"),
        ({"moderation": "low"}, "moderation", "unknown_parameter"),  # generations only
        ({"files": [("image[0]", ("a.png", INPUT_PNG))]}, "image[0]", "unknown_parameter"),
        ({"files": [("n", (None, "2")), ("n", (None, "3"))]}, "n", "duplicate_parameter"),
    ],
)
def test_invalid_edits_get_a_400_in_openai_shape(http, sim, kwargs, param, code):
    error = edit_error(edit(http, sim, **kwargs))
    assert (error["param"], error["code"]) == (param, code)


def test_an_edit_must_be_multipart(http, sim):
    url = sim.url() + "/images/edits"
    body = {"model": MODEL, "prompt": EDIT_PROMPT, "image": "data:image/png;base64,AAAA"}
    error = edit_error(http.post(url, json=body, timeout=5))
    assert "expected multipart/form-data" in error["message"]
    assert "application/json" in error["message"]
    assert error["param"] is None

    error = edit_error(http.post(url, data={"prompt": EDIT_PROMPT}, timeout=5))  # urlencoded
    assert "expected multipart/form-data" in error["message"]
    broken = http.post(
        url,
        data=b"--xyz\r\nno headers here",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
        timeout=5,
    )
    assert "could not parse the form" in edit_error(broken)["message"]
    nameless = http.post(
        url,
        data=b"--xyz\r\ncontent-disposition: form-data\r\n\r\nvalue\r\n--xyz--\r\n",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
        timeout=5,
    )
    assert edit_error(nameless)["param"] is None


def test_an_input_image_over_50_mb_is_refused(http, sim):
    at_limit = PNG_SIGNATURE + bytes(MAX_IMAGE_BYTES - len(PNG_SIGNATURE))
    over = at_limit + b"\x00"
    error = edit_error(edit(http, sim, images=[INPUT_PNG, over], timeout=30))
    assert (error["param"], error["code"]) == ("image", "file_too_large")
    assert "image 2 of 2" in error["message"]
    assert edit(http, sim, images=[at_limit], timeout=30).status_code == 200


def test_the_sdk_gets_edit_urls_and_typed_errors(http, sim):
    client = sdk(sim.url())
    result = client.images.edit(
        model=MODEL,
        image=("in.png", INPUT_PNG, "image/png"),
        prompt=EDIT_PROMPT,
        response_format="url",
        n=2,
    )
    for index, item in enumerate(result.data):
        assert item.url.startswith(sim.base_url + "/_sim/images/img_")
        fetched = http.get(item.url, timeout=5)
        assert fetched.headers["content-type"] == "image/png"
        assert fetched.content == edit_png(MODEL, EDIT_PROMPT, index, INPUT_PNG)

    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(model=MODEL, image=("x.txt", b"text", "text/plain"), prompt="a")
    assert caught.value.body["param"] == "image"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(model=MODEL, image=("in.png", INPUT_PNG), prompt="a", stream=True)
    assert caught.value.body["param"] == "stream"
    with pytest.raises(openai.RateLimitError):
        sdk(sim.url("status=429")).images.edit(model=MODEL, image=INPUT_PNG, prompt="a")


# --- edit faults ----------------------------------------------------------------------------


def test_edit_faults_from_the_scope_header_and_control_api(http, sim):
    assert edit(http, sim, "status=503").status_code == 503
    limited = edit(http, sim, "images=1", n=3).json()
    assert b64_images(limited) == [edit_png(MODEL, EDIT_PROMPT, 0, INPUT_PNG)]
    assert limited["usage"]["output_tokens"] == OUTPUT_TOKENS_PER_IMAGE
    assert edit(http, sim, "images=0", n=2).json()["data"] == []

    headed = edit(http, sim, n=2, headers={"x-sim-fault": "status=429,retry_after=4"})
    assert (headed.status_code, headed.headers["retry-after"]) == (429, "4")
    sim.set_fault("edits", status=502, times=1)
    assert [edit(http, sim, "edits").status_code for _ in range(2)] == [502, 200]
    assert sim.stats()["scopes"]["edits"]["endpoints"] == {"POST /v1/images/edits": 2}

    response = edit(http, sim, "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        edit(http, sim, "cut_after=0")
    with pytest.raises(requests.ConnectionError):
        edit(http, sim, "reset")
    with pytest.raises(requests.ReadTimeout):
        edit(http, sim, "hang_s=2", timeout=(2, 0.3))


def test_edit_faults_from_the_prompt_directive(http, sim):
    prompt = "two cats [sim images=2]"
    body = edit(http, sim, prompt=prompt, n=4).json()
    assert b64_images(body) == [edit_png(MODEL, prompt, i, INPUT_PNG) for i in range(2)]
    assert body["usage"]["input_tokens_details"]["text_tokens"] == 4

    error = edit(http, sim, prompt="a cat [sim status=503]")
    assert (error.status_code, error.json()["error"]["type"]) == (503, "server_error")
    assert edit(http, sim, prompt="[sim status=429 retry_after=7]").headers["retry-after"] == "7"
    assert "bad fault spec" in edit_error(edit(http, sim, prompt="[sim bogus=1]"))["message"]
    assert edit(http, sim, prompt="a cat [sim malformed]").status_code == 200
    with pytest.raises(requests.ConnectionError):
        edit(http, sim, prompt="a cat [sim reset]")
    with pytest.raises(openai.APIConnectionError):
        sdk(sim.url()).images.edit(model=MODEL, image=INPUT_PNG, prompt="a cat [sim reset]")

    started = time.monotonic()
    assert edit(http, sim, prompt="slowly [sim latency_ms=200]").status_code == 200
    assert time.monotonic() - started >= 0.2
    # The directive tops up what the scope already waited, it does not add to it.
    started = time.monotonic()
    assert edit(http, sim, "latency_ms=200", prompt="[sim latency_ms=250]").status_code == 200
    assert 0.25 <= time.monotonic() - started < 0.45
