"""The simulator's Gemini `generateContent` endpoints, over real HTTP with `requests`.

One simulator process serves the whole module; every test starts from a reset. No Django.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
import requests

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
