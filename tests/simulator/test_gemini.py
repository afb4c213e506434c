"""The simulator's Gemini `generateContent` endpoints, over real HTTP with `requests`.

One simulator process serves the whole module; every test starts from a reset. No Django.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import time
import zlib
from typing import Any

import pytest
import requests

from simulator.gemini import output_png, output_size
from simulator.openai_images import solid_png
from simulator.testing import SimulatorProcess

MODEL = "gemini-sim-flash"
PROMPT = "Tell me about the sea."
USER = [{"role": "user", "parts": [{"text": PROMPT}]}]
KEY = {"x-goog-api-key": "AIza-test"}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "OBJECT",  # Gemini's OpenAPI subset spells types in upper case
        "properties": {
            "city": {"type": "STRING"},
            "days": {"type": "INTEGER", "minimum": 1, "maximum": 5},
            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "metric": {"type": "boolean"},
        },
        "required": ["city"],
    },
}
CLOCK = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}
TOOLS = [{"functionDeclarations": [WEATHER, CLOCK]}]
ANY = {"functionCallingConfig": {"mode": "ANY"}}


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def send(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    stream: bool = False,
    alt: str | None = "sse",
    model: str = MODEL,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    timeout: float | tuple[float, float] = 5,
    lazy: bool = False,
    raw: bytes | None = None,
    **body: Any,
) -> requests.Response:
    body.setdefault("contents", USER)
    action = "streamGenerateContent" if stream else "generateContent"
    query = dict(params or {})
    if stream and alt:
        query["alt"] = alt
    return http.post(
        f"{sim.url(scope, suffix='/v1beta')}/models/{model}:{action}",
        params=query,
        data=raw if raw is not None else json.dumps(body),
        headers={"content-type": "application/json", **(KEY if headers is None else headers)},
        timeout=timeout,
        stream=lazy,
    )


def sse_events(response: requests.Response) -> list[dict[str, Any]]:
    """The events of a complete Gemini SSE stream, checking the framing."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = response.text.split("\n\n")
    assert frames[-1] == ""  # every event ends with a blank line
    events = []
    for frame in frames[:-1]:
        assert frame.startswith("data: ") and "\n" not in frame  # no event: lines
        events.append(json.loads(frame[len("data: ") :]))
    return events


def read_cut_stream(response: requests.Response) -> list[dict[str, Any]]:
    """Events of a stream the server aborts: the read must end in an incomplete body."""
    assert response.status_code == 200
    lines = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in response.iter_lines():
            lines.append(line.decode())
    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]


def parts_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    return event["candidates"][0]["content"].get("parts", [])


def text_of(body: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in parts_of(body))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == response.status_code
    assert isinstance(error["message"], str) and error["message"]
    return error


# --- plain answers --------------------------------------------------------------------------


def test_answer_shape_determinism_and_usage(http, sim):
    response = send(http, sim)
    assert response.status_code == 200
    first = response.json()
    second = send(http, sim).json()
    other = send(http, sim, contents=[{"role": "user", "parts": [{"text": "Else"}]}]).json()

    [candidate] = first["candidates"]
    assert candidate["finishReason"] == "STOP"
    assert candidate["index"] == 0
    assert candidate["content"]["role"] == "model"
    [part] = candidate["content"]["parts"]
    assert part["text"] == text_of(second) != text_of(other)
    assert part["text"].endswith(".")
    assert len(part["text"].split()) == 32  # one word, one output token
    prompt = 3 + 4 + tokens(PROMPT)  # counted like the chat module
    assert first["usageMetadata"] == {
        "promptTokenCount": prompt,
        "candidatesTokenCount": 32,
        "totalTokenCount": prompt + 32,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    assert first["modelVersion"] == MODEL
    assert first["responseId"] != second["responseId"]
    # Scoped URL and the key in the query: the same answer.
    scoped = send(http, sim, "route-a", headers={}, params={"key": "k"}).json()
    assert text_of(scoped) == part["text"]
    endpoints = sim.stats()["scopes"]["route-a"]["endpoints"]
    assert endpoints == {"POST /v1beta/models/{model}:generateContent": 1}


def test_prompt_tokens_count_system_media_function_parts_and_tools(http, sim):
    contents = [
        {
            "role": "user",
            "parts": [
                {"text": "Look at this"},
                {"inlineData": {"mimeType": "image/png", "data": "aGk="}},
            ],
        },
        {"role": "model", "parts": [{"functionCall": {"name": "get_time", "args": {}}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_time", "response": {"t": "noon"}}}],
        },
    ]
    system = {"parts": [{"text": "Be terse."}, {"text": "Be kind."}]}
    usage = send(http, sim, contents=contents, system_instruction=system, tools=TOOLS).json()[
        "usageMetadata"
    ]

    text = (
        3
        + 4 + tokens("Be terse.") + tokens("Be kind.")
        + 4 + tokens("Look at this")
        + 4 + tokens("get_time") + tokens("{}")
        + 4 + tokens("get_time") + tokens(json.dumps({"t": "noon"}))
        + tokens(json.dumps(TOOLS))
    )  # fmt: skip
    assert usage["promptTokenCount"] == text + 85
    assert usage["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": text},
        {"modality": "IMAGE", "tokenCount": 85},
    ]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


def test_max_output_tokens_truncates_with_max_tokens(http, sim):
    full = text_of(send(http, sim).json())
    body = send(http, sim, generationConfig={"maxOutputTokens": 5}).json()

    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert body["usageMetadata"]["candidatesTokenCount"] == 5
    text = text_of(body)
    assert len(text.split()) == 5
    assert full.startswith(text) and not text.endswith(".")
    at_limit = send(http, sim, generationConfig={"maxOutputTokens": 32}).json()
    assert at_limit["candidates"][0]["finishReason"] == "STOP"


def test_stop_sequences_end_the_answer_with_stop(http, sim):
    full = text_of(send(http, sim).json())
    stop = " " + full.split()[10]
    body = send(http, sim, generationConfig={"stopSequences": ["never-there", stop]}).json()
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert text_of(body) == full[: full.find(stop)]
    assert body["usageMetadata"]["candidatesTokenCount"] == 10


def test_an_empty_answer_has_no_parts(http, sim):
    body = send(http, sim, "tokens=0").json()
    assert body["candidates"][0]["content"] == {"role": "model"}
    assert body["usageMetadata"]["candidatesTokenCount"] == 0


# --- streams --------------------------------------------------------------------------------


def test_stream_events_carry_words_then_a_final_event(http, sim):
    plain = send(http, sim).json()
    events = sse_events(send(http, sim, stream=True))
    *texts, final = events

    assert len(texts) == 32
    prompt = plain["usageMetadata"]["promptTokenCount"]
    for n, event in enumerate(texts, start=1):
        [candidate] = event["candidates"]
        assert "finishReason" not in candidate
        assert candidate["content"]["role"] == "model"
        assert len(candidate["content"]["parts"]) == 1
        assert event["usageMetadata"] == {
            "promptTokenCount": prompt,
            "candidatesTokenCount": n,  # cumulative: take the last one, never sum
            "totalTokenCount": prompt + n,
        }
    assert "".join(text_of(e) for e in texts) == text_of(plain)
    assert parts_of(final) == [{"text": ""}]
    assert final["candidates"][0]["finishReason"] == "STOP"
    assert final["usageMetadata"] == plain["usageMetadata"]
    assert {e["modelVersion"] for e in events} == {MODEL}
    assert len({e["responseId"] for e in events}) == 1
    assert "[DONE]" not in send(http, sim, stream=True).text


def test_stream_max_tokens_and_json_array_mode(http, sim):
    events = sse_events(send(http, sim, stream=True, generationConfig={"maxOutputTokens": 4}))
    assert len(events) == 5
    assert events[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 4

    response = send(http, sim, stream=True, alt=None, generationConfig={"maxOutputTokens": 4})
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == [
        {**e, "responseId": response.json()[0]["responseId"]} for e in events
    ]


# --- function calling -----------------------------------------------------------------------


def test_mode_any_answers_only_a_function_call_built_from_the_schema(http, sim):
    body = send(http, sim, tools=TOOLS, toolConfig=ANY).json()
    [candidate] = body["candidates"]
    assert candidate["finishReason"] == "STOP"
    [part] = candidate["content"]["parts"]
    call = part["functionCall"]
    assert set(call) == {"name", "args"}
    assert call["name"] == "get_weather"
    args = call["args"]
    assert set(args) == {"city", "days", "unit", "tags", "metric"}
    assert isinstance(args["city"], str) and len(args["city"].split()) == 2
    assert 1 <= args["days"] <= 5
    assert args["unit"] == "celsius"
    assert isinstance(args["tags"], list) and len(args["tags"]) == 1
    assert args["metric"] is True
    assert body["usageMetadata"]["candidatesTokenCount"] == tokens(json.dumps(args))
    assert send(http, sim, tools=TOOLS, toolConfig=ANY).json() != body  # new responseId
    assert parts_of(send(http, sim, tools=TOOLS, toolConfig=ANY).json()) == [part]

    allowed = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}
    picked = parts_of(send(http, sim, tools=TOOLS, toolConfig=allowed).json())
    assert picked == [{"functionCall": {"name": "get_time", "args": {}}}]

    # Streamed: no text events, one final event with the same call.
    events = sse_events(send(http, sim, stream=True, tools=TOOLS, toolConfig=ANY))
    [final] = events
    assert parts_of(final) == [part]
    assert final["usageMetadata"] == body["usageMetadata"]


def test_sim_tool_directive_gives_text_then_a_function_call(http, sim):
    contents = [{"role": "user", "parts": [{"text": "Weather in Paris? [sim tool]"}]}]
    body = send(http, sim, contents=contents, tools=TOOLS).json()
    text_part, call_part = parts_of(body)
    assert len(text_part["text"].split()) == 32
    assert call_part["functionCall"]["name"] == "get_weather"
    usage = body["usageMetadata"]
    assert usage["candidatesTokenCount"] == 32 + tokens(
        json.dumps(call_part["functionCall"]["args"])
    )

    events = sse_events(send(http, sim, stream=True, contents=contents, tools=TOOLS))
    assert "".join(text_of(e) for e in events[:-1]) == text_part["text"]
    assert parts_of(events[-1]) == [call_part]

    none = {"functionCallingConfig": {"mode": "NONE"}}
    assert (
        len(parts_of(send(http, sim, contents=contents, tools=TOOLS, toolConfig=none).json())) == 1
    )
    assert len(parts_of(send(http, sim, contents=contents).json())) == 1  # no tools, no call

    # The loop ends: a last user content holding only a functionResponse has no directive.
    loop = contents + [
        {"role": "model", "parts": [call_part]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]},
    ]
    [answer] = parts_of(send(http, sim, contents=loop, tools=TOOLS).json())
    assert "text" in answer


# --- validation and auth --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "parts must not be empty"),
        ({"contents": [{"role": "user", "parts": [{}]}]}, "required oneof field 'data'"),
        ({"contents": [{"parts": [{"text": 1}]}]}, "TYPE_STRING"),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "%%"}}]}]},
            "Base64",
        ),
        ({"contents": [{"parts": [{"functionResponse": {"name": "f"}}]}]}, "response"),
        ({"messages": USER}, 'Unknown name "messages"'),
        ({"generationConfig": {"max_tokens": 5}}, "at 'generation_config'"),
        ({"generationConfig": {"candidateCount": 2}}, "candidate"),
        ({"generationConfig": {"maxOutputTokens": 0}}, "max_output_tokens"),
        ({"generationConfig": {"maxOutputTokens": "many"}}, "TYPE_INT32"),
        ({"generationConfig": {"temperature": 3}}, "temperature"),
        ({"generationConfig": {"topP": 1.5}}, "top_p"),
        ({"generationConfig": {"stopSequences": ["a"] * 6}}, "stop sequences"),
        ({"tools": [{"functionDeclarations": [{"name": "1bad"}]}]}, "Invalid function name"),
        ({"tools": [{"functionDeclarations": [CLOCK, CLOCK]}]}, "Duplicate function"),
        ({"toolConfig": ANY}, "no function_declarations"),
        ({"tools": TOOLS, "toolConfig": {"functionCallingConfig": {"mode": "SOME"}}}, "mode"),
        (
            {
                "tools": TOOLS,
                "toolConfig": {
                    "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["x"]}
                },
            },
            "not in function_declarations",
        ),
        (
            {
                "tools": TOOLS,
                "toolConfig": {"functionCallingConfig": {"allowedFunctionNames": ["get_time"]}},
            },
            "only allowed when function calling mode is ANY",
        ),
    ],
)
def test_invalid_requests_get_a_400_invalid_argument(http, sim, body, fragment):
    response = send(http, sim, **body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert fragment in error["message"]


def test_snake_case_and_extra_google_fields_are_accepted(http, sim):
    body = {
        "contents": USER,
        "system_instruction": {"parts": [{"text": "Be terse."}]},
        "generation_config": {"max_output_tokens": 3, "temperature": 0.2, "top_p": 0.9,
                              "top_k": 40, "candidate_count": 1, "response_mime_type": "text/plain",
                              "thinkingConfig": {"thinkingBudget": 0}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "tool_config": {"function_calling_config": {"mode": "AUTO"}},
    }  # fmt: skip
    response = send(http, sim, **body)
    assert response.status_code == 200, response.text
    assert response.json()["usageMetadata"]["candidatesTokenCount"] == 3


def test_bad_json_is_a_400_in_google_shape(http, sim):
    response = send(http, sim, raw=b"{not json")
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_auth_errors_in_google_shape(http, sim):
    response = send(http, sim, headers={})
    assert response.status_code == 403
    assert error_of(response)["status"] == "PERMISSION_DENIED"

    response = send(http, sim, stream=True, headers={"authorization": "Bearer AIza-key"})
    assert response.status_code == 401
    assert error_of(response)["status"] == "UNAUTHENTICATED"

    assert send(http, sim, headers={}, params={"key": "k"}).status_code == 200


def test_unknown_v1beta_urls_are_a_404_not_found(http, sim):
    response = http.post(sim.base_url + "/v1beta/models/x:embedEverything", json={}, timeout=5)
    assert response.status_code == 404
    assert error_of(response)["status"] == "NOT_FOUND"


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_status_fault_answers_a_google_error(http, sim, status, name):
    for stream in (False, True):
        response = send(http, sim, f"status={status}", stream=stream)
        assert response.status_code == status
        error = error_of(response)
        assert error["status"] == name
        if status == 429:
            assert response.headers["retry-after"] == "1"
            assert error["details"] == [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
            ]
        else:
            assert "retry-after" not in response.headers
            assert "details" not in error


def test_code_fault_sets_the_status_name_or_the_error_reason(http, sim):
    error = error_of(send(http, sim, "status=400,code=API_KEY_INVALID"))
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == "API key not valid. Please pass a valid API key."
    assert error["details"][0]["reason"] == "API_KEY_INVALID"

    error = error_of(send(http, sim, "status=400,code=FAILED_PRECONDITION"))
    assert error["status"] == "FAILED_PRECONDITION" and "details" not in error

    response = send(http, sim, headers={**KEY, "x-sim-fault": "status=429,retry_after=7"})
    assert response.headers["retry-after"] == "7"
    assert error_of(response)["details"][-1]["retryDelay"] == "7s"


def test_latency_delays_the_answer(http, sim):
    started = time.monotonic()
    assert send(http, sim, "latency_ms=200").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_reset_and_hang(http, sim):
    with pytest.raises(requests.ConnectionError):
        send(http, sim, "reset")
    with pytest.raises(requests.ConnectionError):
        send(http, sim, "reset", stream=True)
    with pytest.raises(requests.ReadTimeout):
        send(http, sim, "hang_s=2", timeout=(2, 0.3))


def test_cut_after_ends_the_stream_after_n_text_events(http, sim):
    events = read_cut_stream(send(http, sim, "cut_after=3", stream=True, lazy=True))
    assert len(events) == 3
    assert all("finishReason" not in e["candidates"][0] for e in events)
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 3  # billable so far

    # More than there are: every word, but no final event.
    events = read_cut_stream(send(http, sim, "cut_after=100", stream=True, lazy=True))
    assert len(events) == 32
    assert all("finishReason" not in e["candidates"][0] for e in events)

    # A forced call is in the final event, so any cut drops it.
    response = send(http, sim, "cut_after=0", stream=True, lazy=True, tools=TOOLS, toolConfig=ANY)
    assert read_cut_stream(response) == []

    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        send(http, sim, "cut_after=0")


def test_malformed_bodies_and_streams(http, sim):
    response = send(http, sim, "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)

    frames = send(http, sim, "malformed", stream=True).text.split("\n\n")[:-1]
    invalid = []
    for frame in frames:
        try:
            json.loads(frame.removeprefix("data: "))
        except ValueError:
            invalid.append(frame)
    assert invalid == [frames[0]]
    assert "finishReason" in json.loads(frames[-1].removeprefix("data: "))["candidates"][0]


def test_tokens_per_second_paces_the_stream(http, sim):
    started = time.monotonic()
    events = sse_events(send(http, sim, "tokens=8,tokens_per_second=40", stream=True))
    assert len(events) == 9
    assert time.monotonic() - started >= 0.2  # 8 tokens at 40/s


def test_faults_come_from_the_control_api_and_the_directive(http, sim):
    sim.set_fault("gem", status=503, times=1)
    assert [send(http, sim, "gem").status_code for _ in range(2)] == [503, 200]

    directive = [{"role": "user", "parts": [{"text": "hi [sim tokens=4]"}]}]
    assert send(http, sim, contents=directive).json()["usageMetadata"]["candidatesTokenCount"] == 4
    combined = [{"role": "user", "parts": [{"text": "hi [sim tool, status=429]"}]}]
    assert send(http, sim, contents=combined, tools=TOOLS).status_code == 429

    response = send(http, sim, contents=[{"role": "user", "parts": [{"text": "[sim boom=1]"}]}])
    assert response.status_code == 400
    assert "boom" in error_of(response)["message"]
    assert sim.stats()["scopes"]["gem"]["endpoints"] == {
        "POST /v1beta/models/{model}:generateContent": 2
    }


# --- image output ---------------------------------------------------------------------------

IMAGE_MODEL = "gemini-2.5-flash-image"
BOTH = {"responseModalities": ["TEXT", "IMAGE"]}
IMAGE_ONLY = {"responseModalities": ["IMAGE"]}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(data: bytes, *, decompress: bool = False) -> tuple[int, int, int]:
    """(width, height, colour type) of a PNG; checks the signature, chunk order and CRCs, and
    with `decompress` that the IDAT data inflates to exactly the image's scanlines."""
    assert data[:8] == PNG_SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour_type, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8
    if decompress:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
        assert len(raw) == height * (1 + 3 * width)
    return width, height, colour_type


def images_of(body: dict[str, Any]) -> list[bytes]:
    """The PNGs of every candidate, in order (checking each image part's shape)."""
    found = []
    for candidate in body["candidates"]:
        for part in candidate["content"].get("parts", []):
            if "inlineData" in part:
                assert set(part) == {"inlineData"}
                assert part["inlineData"]["mimeType"] == "image/png"
                found.append(base64.b64decode(part["inlineData"]["data"], validate=True))
    return found


def send_image(http, sim, scope=None, *, config=None, **body) -> requests.Response:
    body.setdefault("model", IMAGE_MODEL)
    return send(http, sim, scope, generationConfig=config or dict(BOTH), **body)


def test_image_modality_answers_text_then_a_png(http, sim):
    response = send_image(http, sim)
    assert response.status_code == 200, response.text
    body = response.json()
    [candidate] = body["candidates"]
    assert candidate["finishReason"] == "STOP"
    assert candidate["index"] == 0
    assert candidate["content"]["role"] == "model"
    text_part, image_part = candidate["content"]["parts"]
    assert len(text_part["text"].split()) == 8 and text_part["text"].endswith(".")
    [png] = images_of(body)
    assert png_header(png, decompress=True) == (1024, 1024, 2)
    assert png == output_png(IMAGE_MODEL, PROMPT, 0)
    assert body["modelVersion"] == IMAGE_MODEL

    prompt = 3 + 4 + tokens(PROMPT)
    assert body["usageMetadata"] == {
        "promptTokenCount": prompt,
        "candidatesTokenCount": 1290 + 8,
        "totalTokenCount": prompt + 1298,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "candidatesTokensDetails": [
            {"modality": "TEXT", "tokenCount": 8},
            {"modality": "IMAGE", "tokenCount": 1290},
        ],
    }
    # Deterministic from model and prompt.
    assert parts_of(send_image(http, sim).json()) == [text_part, image_part]
    other_prompt = send_image(http, sim, contents=[{"role": "user", "parts": [{"text": "Else"}]}])
    other_model = send_image(http, sim, model="gemini-3-pro-image-preview")
    assert images_of(other_prompt.json()) == [output_png(IMAGE_MODEL, "Else", 0)] != [png]
    assert images_of(other_model.json()) == [output_png("gemini-3-pro-image-preview", PROMPT, 0)]
    assert images_of(other_model.json()) != [png]


def test_image_only_snake_case_and_any_case_modalities(http, sim):
    config = {"response_modalities": ["Image"], "image_config": {"aspect_ratio": "16:9"}}
    response = send(http, sim, model=IMAGE_MODEL, generation_config=config)
    assert response.status_code == 200, response.text
    body = response.json()
    [part] = parts_of(body)  # no text part
    assert png_header(images_of(body)[0]) == (1344, 768, 2)
    usage = body["usageMetadata"]
    assert usage["candidatesTokenCount"] == 1290
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 1290
    assert usage["candidatesTokensDetails"] == [{"modality": "IMAGE", "tokenCount": 1290}]

    # The text part's length follows `tokens=N`; tokens=0 drops it.
    assert len(text_of(send_image(http, sim, "tokens=3").json()).split()) == 3
    assert len(parts_of(send_image(http, sim, "tokens=0").json())) == 1


def test_text_answers_are_unchanged_by_image_settings(http, sim):
    plain = send(http, sim).json()
    for config in ({"imageConfig": {"aspectRatio": "9:16"}}, {"responseModalities": ["TEXT"]}):
        body = send(http, sim, generationConfig=config).json()
        assert parts_of(body) == parts_of(plain)
        assert body["usageMetadata"] == plain["usageMetadata"]  # no candidatesTokensDetails


def test_candidate_count_gives_one_image_per_candidate(http, sim):
    body = send_image(http, sim, config={**IMAGE_ONLY, "candidateCount": 3}).json()
    candidates = body["candidates"]
    assert [c["index"] for c in candidates] == [0, 1, 2]
    assert all(c["finishReason"] == "STOP" for c in candidates)
    assert all(len(c["content"]["parts"]) == 1 for c in candidates)
    pngs = images_of(body)
    assert pngs == [output_png(IMAGE_MODEL, PROMPT, i) for i in range(3)]
    assert len(set(pngs)) == 3
    assert body["usageMetadata"]["candidatesTokenCount"] == 3 * 1290

    with_text = send_image(http, sim, config={**BOTH, "candidateCount": 2}).json()
    texts = [c["content"]["parts"][0]["text"] for c in with_text["candidates"]]
    assert len(set(texts)) == 2  # each candidate its own text
    assert images_of(with_text) == pngs[:2]
    assert with_text["usageMetadata"]["candidatesTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": 16},
        {"modality": "IMAGE", "tokenCount": 2 * 1290},
    ]


@pytest.mark.parametrize(
    ("image_config", "size"),
    [
        ({}, (1024, 1024)),
        ({"aspectRatio": "1:1"}, (1024, 1024)),
        ({"aspectRatio": "2:3"}, (832, 1248)),
        ({"aspectRatio": "3:2"}, (1248, 832)),
        ({"aspectRatio": "3:4"}, (864, 1184)),
        ({"aspectRatio": "4:3"}, (1184, 864)),
        ({"aspectRatio": "4:5"}, (896, 1152)),
        ({"aspectRatio": "5:4"}, (1152, 896)),
        ({"aspectRatio": "9:16"}, (768, 1344)),
        ({"aspectRatio": "16:9"}, (1344, 768)),
        ({"aspectRatio": "21:9"}, (1536, 672)),
        ({"imageSize": "1K"}, (1024, 1024)),
        ({"imageSize": "2K"}, (2048, 2048)),
        ({"imageSize": "4K"}, (4096, 4096)),
        ({"aspectRatio": "16:9", "imageSize": "2K"}, (2688, 1536)),
        ({"aspectRatio": "16:9", "imageSize": "4K"}, (5376, 3072)),
        ({"aspectRatio": "21:9", "imageSize": "4K"}, (6144, 2688)),
        ({"aspect_ratio": "4:5", "image_size": "2K"}, (1792, 2304)),
        ({"aspectRatio": "", "imageSize": ""}, (1024, 1024)),  # proto3: empty means unset
    ],
)
def test_aspect_ratio_and_image_size_set_the_png_size(http, sim, image_config, size):
    config = {**IMAGE_ONLY, "imageConfig": image_config}
    body = send_image(http, sim, config=config).json()
    [png] = images_of(body)
    assert png_header(png) == (*size, 2)
    ratio = image_config.get("aspectRatio") or image_config.get("aspect_ratio") or "1:1"
    image_size = image_config.get("imageSize") or image_config.get("image_size") or "1K"
    assert output_size(ratio, image_size) == size
    assert png == output_png(IMAGE_MODEL, PROMPT, 0, aspect_ratio=ratio, image_size=image_size)
    assert body["usageMetadata"]["candidatesTokenCount"] == 1290  # whatever the size


def test_input_images_change_the_output(http, sim):
    red = solid_png(8, 8, b"\xff\x00\x00")
    blue = solid_png(8, 8, b"\x00\x00\xff")

    def edit(*images: bytes, mime: str = "image/png") -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": PROMPT}]
        for image in images:
            parts.append({"inlineData": {"mimeType": mime, "data": b64(image)}})
        return send_image(http, sim, contents=[{"role": "user", "parts": parts}]).json()

    plain = images_of(send_image(http, sim).json())
    on_red, on_blue = images_of(edit(red)), images_of(edit(blue))
    assert on_red == [output_png(IMAGE_MODEL, PROMPT, 0, [red])]
    assert on_blue == [output_png(IMAGE_MODEL, PROMPT, 0, [blue])]
    assert len({plain[0], on_red[0], on_blue[0]}) == 3
    assert images_of(edit(red)) == on_red  # deterministic
    both = images_of(edit(red, blue))
    assert both == [output_png(IMAGE_MODEL, PROMPT, 0, [red, blue])]
    assert both != images_of(edit(blue, red))  # order matters
    # Not an image: no input image, the generation colour.
    assert images_of(edit(b"%PDF-1.7", mime="application/pdf")) == plain
    # Input images are paid as prompt media; URL-safe unpadded base64 decodes the same.
    body = edit(red)
    assert body["usageMetadata"]["promptTokensDetails"][-1] == {
        "modality": "IMAGE",
        "tokenCount": 85,
    }
    urlsafe = base64.urlsafe_b64encode(red).decode().rstrip("=")
    parts = [{"text": PROMPT}, {"inline_data": {"mime_type": "image/png", "data": urlsafe}}]
    assert images_of(send_image(http, sim, contents=[{"parts": parts}]).json()) == on_red


def test_the_prompt_is_every_text_part_of_every_content(http, sim):
    contents = [
        {"role": "user", "parts": [{"text": "A cat"}, {"text": "in a hat"}]},
        {"role": "model", "parts": [{"text": "Here it is."}]},
        {"role": "user", "parts": [{"text": "Now blue"}]},
    ]
    body = send_image(http, sim, contents=contents).json()
    prompt = "A cat\nin a hat\nHere it is.\nNow blue"
    assert images_of(body) == [output_png(IMAGE_MODEL, prompt, 0)]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"responseModalities": "IMAGE"}, "response_modalities"),
        ({"responseModalities": ["TEXT", "PICTURE"]}, "response_modalities[1]"),
        ({"responseModalities": [1]}, "GenerationConfig.Modality"),
        ({**IMAGE_ONLY, "imageConfig": "16:9"}, "image_config"),
        ({**IMAGE_ONLY, "imageConfig": {"aspectRatio": "7:3"}}, "aspect_ratio"),
        ({**IMAGE_ONLY, "imageConfig": {"aspectRatio": 1.5}}, "TYPE_STRING"),
        ({**IMAGE_ONLY, "imageConfig": {"imageSize": "1k"}}, "image_size"),  # upper-case K
        ({**IMAGE_ONLY, "imageConfig": {"imageSize": "8K"}}, "image_size"),
        ({**IMAGE_ONLY, "imageConfig": {"personGeneration": "x"}}, 'Unknown name "personGen'),
        ({"imageConfig": {"aspectRatio": "7:3"}}, "aspect_ratio"),  # checked for text too
        ({**IMAGE_ONLY, "candidateCount": 5}, "[1, 4]"),
        ({**IMAGE_ONLY, "candidateCount": 0}, "[1, 4]"),
        ({**BOTH, "candidateCount": "2"}, "TYPE_INT32"),
        ({"responseModalities": ["TEXT"], "candidateCount": 2}, "candidate"),
    ],
)
def test_invalid_image_requests_get_a_400_invalid_argument(http, sim, config, fragment):
    for stream in (False, True):
        response = send_image(http, sim, config=config, stream=stream)
        assert response.status_code == 400
        error = error_of(response)
        assert error["status"] == "INVALID_ARGUMENT"
        assert fragment in error["message"]


def test_images_fault_withholds_the_later_images(http, sim):
    body = send_image(http, sim, "images=1", config={**BOTH, "candidateCount": 3}).json()
    candidates = body["candidates"]
    assert [c["finishReason"] for c in candidates] == ["STOP", "NO_IMAGE", "NO_IMAGE"]
    assert [len(c["content"]["parts"]) for c in candidates] == [2, 1, 1]  # text kept
    assert images_of(body) == [output_png(IMAGE_MODEL, PROMPT, 0)]
    assert body["usageMetadata"]["candidatesTokenCount"] == 1290 + 3 * 8
    assert body["usageMetadata"]["candidatesTokensDetails"][-1] == {
        "modality": "IMAGE",
        "tokenCount": 1290,
    }

    # None at all, image only: an empty candidate, nothing to pay for.
    body = send_image(http, sim, "images=0", config=IMAGE_ONLY).json()
    assert body["candidates"] == [
        {"content": {"role": "model"}, "finishReason": "NO_IMAGE", "index": 0}
    ]
    assert body["usageMetadata"]["candidatesTokenCount"] == 0
    assert "candidatesTokensDetails" not in body["usageMetadata"]

    # From the prompt's directive (which is part of the image's prompt too); more than asked
    # for changes nothing.
    text = "A fox [sim images=2]"
    contents = [{"role": "user", "parts": [{"text": text}]}]
    config = {**IMAGE_ONLY, "candidateCount": 4}
    body = send_image(http, sim, contents=contents, config=config).json()
    assert images_of(body) == [output_png(IMAGE_MODEL, text, i) for i in range(2)]
    assert len(images_of(send_image(http, sim, "images=9", config=config).json())) == 4


def test_image_stream_sends_words_the_image_then_a_final_event(http, sim):
    plain = send_image(http, sim).json()
    events = sse_events(send_image(http, sim, stream=True))
    *words, image, final = events
    assert len(words) == 8
    prompt = plain["usageMetadata"]["promptTokenCount"]
    for n, event in enumerate(words, start=1):
        assert "finishReason" not in event["candidates"][0]
        assert event["usageMetadata"] == {
            "promptTokenCount": prompt,
            "candidatesTokenCount": n,
            "totalTokenCount": prompt + n,
        }
    assert "".join(text_of(e) for e in words) == text_of(plain)
    assert parts_of(image) == parts_of(plain)[1:]  # the whole image in one event
    assert "finishReason" not in image["candidates"][0]
    assert image["usageMetadata"]["candidatesTokenCount"] == 8 + 1290
    assert parts_of(final) == [{"text": ""}]
    assert final["candidates"][0]["finishReason"] == "STOP"
    assert final["usageMetadata"] == plain["usageMetadata"]
    assert {e["modelVersion"] for e in events} == {IMAGE_MODEL}
    assert len({e["responseId"] for e in events}) == 1

    # JSON array mode: the same events.
    response = send_image(http, sim, stream=True, alt=None)
    array = response.json()
    assert array == [{**e, "responseId": array[0]["responseId"]} for e in events]


def test_image_stream_goes_candidate_by_candidate(http, sim):
    config = {**IMAGE_ONLY, "candidateCount": 3}
    plain = send_image(http, sim, "images=2", config=config).json()
    events = sse_events(send_image(http, sim, "images=2", stream=True, config=config))
    shape = [
        (e["candidates"][0]["index"], e["candidates"][0].get("finishReason"), "inlineData" in p)
        for e in events
        for p in parts_of(e)
    ]
    assert shape == [
        (0, None, True),
        (0, "STOP", False),
        (1, None, True),
        (1, "STOP", False),
        (2, "NO_IMAGE", False),
    ]
    assert [e["usageMetadata"]["candidatesTokenCount"] for e in events] == [
        1290,
        1290,
        2580,
        2580,
        2580,
    ]
    assert events[-1]["usageMetadata"] == plain["usageMetadata"]
    streamed = [images_of(e) for e in events]
    assert [png for pngs in streamed for png in pngs] == images_of(plain)


def test_image_faults_status_cut_malformed_and_pacing(http, sim):
    for stream in (False, True):
        response = send_image(http, sim, "status=429", stream=stream)
        assert response.status_code == 429
        assert error_of(response)["status"] == "RESOURCE_EXHAUSTED"

    # cut_after counts every event but the last: here the image, then the stream breaks.
    response = send_image(http, sim, "cut_after=1", stream=True, lazy=True, config=IMAGE_ONLY)
    [event] = read_cut_stream(response)
    assert images_of(event) == [output_png(IMAGE_MODEL, PROMPT, 0)]
    assert "finishReason" not in event["candidates"][0]
    response = send_image(http, sim, "cut_after=0", stream=True, lazy=True, config=IMAGE_ONLY)
    assert read_cut_stream(response) == []
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        send_image(http, sim, "cut_after=0")

    response = send_image(http, sim, "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    frames = send_image(http, sim, "malformed", stream=True).text.split("\n\n")[:-1]
    with pytest.raises(ValueError):
        json.loads(frames[0].removeprefix("data: "))
    assert len(frames) == 1 + 8 + 2

    # An image counts as 1290 output tokens: at 12900 tokens/s it takes 0.1 s.
    for stream in (False, True):
        started = time.monotonic()
        response = send_image(http, sim, "tokens_per_second=12900", stream=stream)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.1

    with pytest.raises(requests.ConnectionError):
        send_image(http, sim, "reset")
    started = time.monotonic()
    assert send_image(http, sim, "latency_ms=150").status_code == 200
    assert time.monotonic() - started >= 0.15
