"""The simulator's Anthropic Messages endpoints, over real HTTP (requests and the official
`anthropic` SDK).

One simulator process serves the whole module; every test starts from a reset. No Django.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import anthropic
import httpx2  # the anthropic SDK's HTTP client: a cut stream surfaces as its error
import pytest
import requests

from simulator.anthropic_messages import JSON_PIECE_CHARS
from simulator.testing import SimulatorProcess

MODEL = "claude-sim-1"
PROMPT = "Tell me about the sea."
USER = [{"role": "user", "content": PROMPT}]
HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 5},
            "metric": {"type": "boolean"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "where": {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "name": {"type": ["string", "null"]}},
            },
        },
        "required": ["city"],
    },
}
CLOCK = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
TOOLS = [WEATHER, CLOCK]
TOOL_PROMPT = [{"role": "user", "content": "Weather in Paris? [sim tool]"}]


def send(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    path: str = "/messages",
    headers: dict[str, str] | None = None,
    timeout: float | tuple[float, float] = 5,
    lazy: bool = False,
    **body: Any,
) -> requests.Response:
    body.setdefault("model", MODEL)
    body.setdefault("messages", USER)
    if path == "/messages":
        body.setdefault("max_tokens", 1024)
    return http.post(
        sim.url(scope) + path,
        json=body,
        headers=HEADERS if headers is None else headers,
        timeout=timeout,
        stream=lazy,
    )


def sse_events(response: requests.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a complete Anthropic stream, checking the framing."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = response.text.split("\n\n")
    assert frames[-1] == ""  # every frame ends with a blank line
    events = []
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        name = event_line[len("event: ") :]
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == name
        events.append((name, data))
    return events


def read_cut_stream(response: requests.Response) -> list[tuple[str, dict[str, Any]]]:
    """Events of a stream the server aborts: the read must end in an incomplete body."""
    assert response.status_code == 200
    lines = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in response.iter_lines():
            lines.append(line.decode())
    events = []
    for line in lines:
        if line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
            events.append((data["type"], data))
    return events


def text_deltas(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [
        d["delta"]["text"]
        for name, d in events
        if name == "content_block_delta" and d["delta"]["type"] == "text_delta"
    ]


def json_pieces(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [
        d["delta"]["partial_json"]
        for name, d in events
        if name == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]


def client(sim: SimulatorProcess, scope: str | None = None, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)  # a retried fault would hide what we test
    kwargs.setdefault("timeout", 5)
    return anthropic.Anthropic(base_url=sim.url(scope, suffix=""), api_key="x", **kwargs)


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]
    return body["error"]


# --- plain answers --------------------------------------------------------------------------


def test_answer_shape_determinism_and_usage(http, sim):
    response = send(http, sim)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    first = response.json()
    second = send(http, sim).json()
    other = send(http, sim, messages=[{"role": "user", "content": "Something else"}]).json()

    assert first["id"].startswith("msg_") and first["id"] != second["id"]
    assert first["type"] == "message"
    assert first["role"] == "assistant"
    assert first["model"] == MODEL
    [block] = first["content"]
    assert block["type"] == "text"
    assert block["text"] == second["content"][0]["text"] != other["content"][0]["text"]
    assert block["text"].endswith(".")
    assert first["stop_reason"] == "end_turn"
    assert first["stop_sequence"] is None
    assert first["usage"] == {
        "input_tokens": 3 + 4 + tokens(PROMPT),  # counted like the chat module
        "output_tokens": 32,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    }
    assert len(block["text"].split()) == 32  # one word, one output token
    assert send(http, sim, model="any-model").json()["model"] == "any-model"


def test_input_tokens_count_system_blocks_and_tools(http, sim):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "x"}}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Look at this"}, image]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "noon"}],
        },
    ]
    system = [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Be kind."}]
    usage = send(http, sim, messages=messages, system=system, tools=TOOLS).json()["usage"]

    expected = (
        3
        + 4 + tokens("Be terse.") + tokens("Be kind.")
        + 4 + tokens("Look at this") + 85
        + 4 + tokens("Checking.") + tokens("get_time") + tokens("{}")
        + 4 + tokens("noon")
        + tokens(json.dumps(TOOLS))
    )  # fmt: skip
    assert usage["input_tokens"] == expected
    plain = send(http, sim, system="Be terse.").json()["usage"]["input_tokens"]
    assert plain == 3 + 4 + tokens("Be terse.") + 4 + tokens(PROMPT)


def test_max_tokens_truncates_with_stop_reason_max_tokens(http, sim):
    full = send(http, sim).json()["content"][0]["text"]
    body = send(http, sim, max_tokens=5).json()

    assert body["stop_reason"] == "max_tokens"
    assert body["usage"]["output_tokens"] == 5
    text = body["content"][0]["text"]
    assert len(text.split()) == 5
    assert full.startswith(text) and not text.endswith(".")
    assert send(http, sim, max_tokens=32).json()["stop_reason"] == "end_turn"


def test_stop_sequences_end_the_answer_before_the_sequence(http, sim):
    full = send(http, sim).json()["content"][0]["text"]
    stop = " " + full.split()[10]
    cut_at = full.find(stop)
    body = send(http, sim, stop_sequences=["never-there", stop]).json()

    assert body["stop_reason"] == "stop_sequence"
    assert body["stop_sequence"] == stop
    assert body["content"][0]["text"] == full[:cut_at]

    events = sse_events(send(http, sim, stop_sequences=[stop], stream=True))
    pieces = text_deltas(events)
    assert "".join(pieces) == full[:cut_at]
    delta = next(d for name, d in events if name == "message_delta")
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": stop}
    assert delta["usage"]["output_tokens"] == len(pieces) == body["usage"]["output_tokens"]


def test_stream_events_come_in_anthropic_order(http, sim):
    plain = send(http, sim).json()
    events = sse_events(send(http, sim, stream=True))
    names = [name for name, _ in events]

    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]

    start = events[0][1]["message"]
    assert start["id"].startswith("msg_")
    assert start["model"] == MODEL
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"] == {
        "input_tokens": plain["usage"]["input_tokens"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    pieces = text_deltas(events)
    assert "".join(pieces) == plain["content"][0]["text"]
    assert all(d["index"] == 0 for name, d in events if name.startswith("content_block"))
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 32},
    }
    assert len(pieces) == 32
    assert "[DONE]" not in events[-1][1]


def test_an_empty_answer_has_no_content_block(http, sim):
    body = send(http, sim, "tokens=0").json()
    assert body["content"] == []
    assert body["usage"]["output_tokens"] == 0

    names = [name for name, _ in sse_events(send(http, sim, "tokens=0", stream=True))]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]


def test_the_anthropic_sdk_reads_answers_streams_and_counts(sim):
    sdk = client(sim)
    message = sdk.messages.create(model=MODEL, max_tokens=7, messages=USER)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 7

    with sdk.messages.stream(model=MODEL, max_tokens=7, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == message.content[0].text == final.content[0].text
    assert final.usage.output_tokens == 7
    assert final.usage.input_tokens == message.usage.input_tokens
    assert final.stop_reason == "max_tokens"

    counted = sdk.messages.count_tokens(model=MODEL, messages=USER, system="Be terse.")
    assert counted.input_tokens == 3 + 4 + tokens("Be terse.") + 4 + tokens(PROMPT)


# --- tool use -------------------------------------------------------------------------------


def check_weather_input(value: dict[str, Any]) -> None:
    assert set(value) == {"city", "days", "metric", "unit", "tags", "where"}
    assert isinstance(value["city"], str) and value["city"]
    assert isinstance(value["days"], int) and 1 <= value["days"] <= 5
    assert value["metric"] is True
    assert value["unit"] == "celsius"  # enums take their first value
    assert len(value["tags"]) == 1 and isinstance(value["tags"][0], str)
    assert isinstance(value["where"]["lat"], int)
    assert isinstance(value["where"]["name"], str)


def test_forced_tool_choice_answers_only_a_tool_use_block(http, sim):
    body = send(http, sim, tools=TOOLS, tool_choice={"type": "any"}).json()

    [block] = body["content"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")
    assert block["name"] == "get_weather"  # the first tool
    check_weather_input(block["input"])
    assert body["stop_reason"] == "tool_use"
    assert body["usage"]["output_tokens"] == tokens(json.dumps(block["input"]))

    again = send(http, sim, tools=TOOLS, tool_choice={"type": "any"}).json()
    assert again["content"][0]["input"] == block["input"]
    assert again["content"][0]["id"] != block["id"]

    named = send(http, sim, tools=TOOLS, tool_choice={"type": "tool", "name": "get_time"}).json()
    assert [(b["type"], b["name"], b["input"]) for b in named["content"]] == [
        ("tool_use", "get_time", {})
    ]


def test_sim_tool_directive_with_auto_gives_text_then_a_tool_call(http, sim):
    body = send(http, sim, messages=TOOL_PROMPT, tools=TOOLS).json()
    assert [b["type"] for b in body["content"]] == ["text", "tool_use"]
    text, call = body["content"]
    assert len(text["text"].split()) == 32
    assert call["name"] == "get_weather"
    check_weather_input(call["input"])
    assert body["stop_reason"] == "tool_use"
    assert body["usage"]["output_tokens"] == 32 + tokens(json.dumps(call["input"]))

    explicit = send(http, sim, messages=TOOL_PROMPT, tools=TOOLS, tool_choice={"type": "auto"})
    assert explicit.json()["content"][1]["input"] == call["input"]

    only_tool = [{"role": "user", "content": "Weather? [sim tool tokens=0]"}]
    body = send(http, sim, messages=only_tool, tools=TOOLS).json()
    assert [b["type"] for b in body["content"]] == ["tool_use"]

    none = send(http, sim, messages=TOOL_PROMPT, tools=TOOLS, tool_choice={"type": "none"})
    assert [b["type"] for b in none.json()["content"]] == ["text"]
    assert none.json()["stop_reason"] == "end_turn"

    no_tools = send(http, sim, messages=TOOL_PROMPT).json()
    assert no_tools["stop_reason"] == "end_turn"  # nothing to call: a plain answer, not a 400


def test_tool_use_stream_pieces_concatenate_to_the_plain_input(http, sim):
    plain = send(http, sim, messages=TOOL_PROMPT, tools=TOOLS).json()
    events = sse_events(send(http, sim, messages=TOOL_PROMPT, tools=TOOLS, stream=True))
    names = [name for name, _ in events]

    starts = [d for name, d in events if name == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1]
    assert starts[0]["content_block"] == {"type": "text", "text": ""}
    tool_block = starts[1]["content_block"]
    assert tool_block["type"] == "tool_use"
    assert tool_block["id"].startswith("toolu_")
    assert tool_block["name"] == "get_weather"
    assert tool_block["input"] == {}
    assert names.count("content_block_stop") == 2
    assert names.index("ping") == 2

    assert "".join(text_deltas(events)) == plain["content"][0]["text"]
    pieces = json_pieces(events)
    expected = plain["content"][1]["input"]
    assert len(pieces) > 1
    assert all(0 < len(p) <= JSON_PIECE_CHARS for p in pieces)
    assert "".join(pieces) == json.dumps(expected)
    assert json.loads("".join(pieces)) == expected
    tool_deltas = [d for name, d in events if name == "content_block_delta" and d["index"] == 1]
    assert len(tool_deltas) == len(pieces)

    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == plain["usage"]["output_tokens"]


def test_forced_tool_use_stream_has_a_single_tool_block(http, sim):
    plain = send(http, sim, tools=TOOLS, tool_choice={"type": "any"}).json()
    events = sse_events(send(http, sim, tools=TOOLS, tool_choice={"type": "any"}, stream=True))

    assert [name for name, _ in events[:3]] == ["message_start", "content_block_start", "ping"]
    assert events[1][1]["content_block"]["type"] == "tool_use"
    assert text_deltas(events) == []
    assert json.loads("".join(json_pieces(events))) == plain["content"][0]["input"]


def test_the_sdk_stream_accumulates_the_same_tool_input(sim):
    sdk = client(sim)
    message = sdk.messages.create(
        model=MODEL, max_tokens=100, messages=TOOL_PROMPT, tools=TOOLS, stream=False
    )
    with sdk.messages.stream(
        model=MODEL, max_tokens=100, messages=TOOL_PROMPT, tools=TOOLS
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == message.content[1].input
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == message.usage.output_tokens


def test_a_tool_loop_ends_with_a_text_answer(http, sim):
    first = send(http, sim, messages=TOOL_PROMPT, tools=TOOLS).json()
    call = first["content"][1]
    follow_up = [
        *TOOL_PROMPT,
        {"role": "assistant", "content": first["content"]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "18C"}],
        },
    ]
    body = send(http, sim, messages=follow_up, tools=TOOLS).json()
    assert [b["type"] for b in body["content"]] == ["text"]
    assert body["stop_reason"] == "end_turn"


# --- count_tokens ---------------------------------------------------------------------------


def test_count_tokens_matches_the_messages_usage(http, sim):
    request = {"messages": TOOL_PROMPT, "tools": TOOLS, "system": "You are a weather bot."}
    usage = send(http, sim, **request).json()["usage"]
    response = send(http, sim, path="/messages/count_tokens", **request)

    assert response.status_code == 200
    assert response.json() == {"input_tokens": usage["input_tokens"]}
    # A Messages body is accepted as is (max_tokens and stream are ignored).
    same = send(http, sim, path="/messages/count_tokens", max_tokens=5, stream=True, **request)
    assert same.json() == response.json()


def test_count_tokens_validates_and_takes_faults(http, sim):
    response = send(http, sim, path="/messages/count_tokens", messages=[])
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"

    response = send(http, sim, "status=529", path="/messages/count_tokens")
    assert response.status_code == 529
    assert error_of(response)["type"] == "overloaded_error"

    response = send(http, sim, path="/messages/count_tokens", headers={"x-api-key": "k"})
    assert response.status_code == 400

    endpoints = sim.stats()["scopes"]["default"]["endpoints"]
    assert endpoints == {"POST /v1/messages/count_tokens": 2}


# --- validation -----------------------------------------------------------------------------


def test_headers_are_checked(http, sim):
    response = send(http, sim, headers={"x-api-key": "k"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert "anthropic-version" in error["message"]

    response = send(http, sim, headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 401
    assert error_of(response)["type"] == "authentication_error"

    bearer = {"authorization": "Bearer k", "anthropic-version": "2023-06-01"}
    assert send(http, sim, headers=bearer).status_code == 200  # what ANTHROPIC_AUTH_TOKEN sends


def result(tool_use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "x"}


def tool_turns(*answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A tool call, then a user turn made of `answer` (a plain text turn if empty)."""
    return [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {}}],
        },
        {"role": "user", "content": list(answer) or "plain"},
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"model": None}, "model"),
        ({"messages": None}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user"}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages.0"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages.0.content.0"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0"),
        ({"messages": [{"role": "user", "content": [{"type": "image"}]}]}, "source"),
        ({"messages": tool_turns(result("toolu_1"), result("toolu_9"))}, "toolu_9"),
        ({"messages": [{"role": "user", "content": [result("toolu_1")]}]}, "tool_use_id"),
        ({"messages": tool_turns()}, "without `tool_result`"),
        ({"messages": tool_turns(result("toolu_9"))}, "toolu_1"),
        ({"system": 5}, "system"),
        ({"system": [{"type": "image"}]}, "system.0"),
        ({"tools": [{"name": "x"}]}, "input_schema"),
        ({"tools": [{"name": "bad name!", "input_schema": {}}]}, "tools.0.name"),
        ({"tools": [CLOCK, CLOCK]}, "unique"),
        ({"tool_choice": {"type": "any"}}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": {"type": "sometimes"}}, "tool_choice"),
        ({"stream": "yes"}, "stream"),
        ({"stop_sequences": "STOP"}, "stop_sequences"),
        ({"temperature": 1.5}, "temperature"),
        ({"metadata": {"user_id": 5}}, "metadata.user_id"),
        ({"thinking": {"type": "enabled", "budget_tokens": 10}}, "budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 1500}, "max_"),
    ],
)
def test_invalid_requests_get_a_400_in_anthropic_shape(http, sim, body, fragment):
    payload: dict[str, Any] = {"model": MODEL, "max_tokens": 1024, "messages": USER}
    payload.update(body)
    payload = {k: v for k, v in payload.items() if v is not None}
    response = http.post(sim.url() + "/messages", json=payload, headers=HEADERS, timeout=5)

    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


def test_a_final_assistant_prefill_and_unknown_fields_are_accepted(http, sim):
    messages = [*USER, {"role": "assistant", "content": ""}]
    body = send(http, sim, messages=messages, service_tier="auto", top_k=5, temperature=0.5)
    assert body.status_code == 200


def test_a_body_that_is_not_json_is_a_400_in_anthropic_shape(http, sim):
    response = http.post(
        sim.url() + "/messages",
        data=b"{nope",
        headers={**HEADERS, "content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_status_fault_answers_an_anthropic_error(http, sim, status, error_type):
    response = send(http, sim, f"status={status}")

    assert response.status_code == status
    assert error_of(response)["type"] == error_type
    if status == 429:
        assert response.headers["retry-after"] == "1"
    else:
        assert "retry-after" not in response.headers


def test_status_fault_on_a_stream_is_a_json_error_and_code_names_the_type(http, sim):
    response = send(http, sim, "status=529", stream=True)
    assert response.status_code == 529
    assert response.headers["content-type"].startswith("application/json")
    assert error_of(response)["type"] == "overloaded_error"

    response = send(http, sim, "status=429,retry_after=9,code=billing_error")
    assert response.headers["retry-after"] == "9"
    assert error_of(response)["type"] == "billing_error"


def test_the_sdk_raises_its_typed_errors_for_status_faults(sim):
    cases = [
        ("status=529", anthropic.OverloadedError),
        ("status=429", anthropic.RateLimitError),
        ("status=500", anthropic.InternalServerError),
        ("status=401", anthropic.AuthenticationError),
        ("status=400", anthropic.BadRequestError),
    ]
    for scope, error_class in cases:
        with pytest.raises(error_class) as caught:
            client(sim, scope).messages.create(model=MODEL, max_tokens=10, messages=USER)
        assert caught.value.body["type"] == "error"


def test_latency_delays_the_answer(http, sim):
    started = time.monotonic()
    assert send(http, sim, "latency_ms=200").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_reset_drops_the_connection(http, sim):
    with pytest.raises(requests.ConnectionError):
        send(http, sim, "reset")
    with pytest.raises(anthropic.APIConnectionError):
        client(sim, "reset").messages.create(model=MODEL, max_tokens=10, messages=USER)


def test_hang_makes_the_client_time_out(http, sim):
    with pytest.raises(requests.ReadTimeout):
        send(http, sim, "hang_s=2", timeout=(2, 0.3))
    with pytest.raises(anthropic.APITimeoutError):
        client(sim, "hang_s=2", timeout=0.3).messages.create(
            model=MODEL, max_tokens=10, messages=USER
        )


def test_malformed_plain_answer_is_a_200_that_does_not_parse(http, sim):
    response = send(http, sim, "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_malformed_stream_has_one_invalid_data_line(http, sim):
    response = send(http, sim, "malformed", stream=True)
    frames = response.text.split("\n\n")[:-1]
    invalid = []
    for frame in frames:
        data = frame.split("\n")[1].removeprefix("data: ")
        try:
            json.loads(data)
        except ValueError:
            invalid.append(frame)
    assert len(invalid) == 1
    assert frames[0].startswith("event: message_start")
    assert frames[-1].startswith("event: message_stop")
    with pytest.raises(ValueError):
        list(client(sim, "malformed").messages.create(
            model=MODEL, max_tokens=10, messages=USER, stream=True
        ))  # fmt: skip


def test_cut_after_ends_the_stream_after_n_text_deltas(http, sim):
    events = read_cut_stream(send(http, sim, "cut_after=3", stream=True, lazy=True))
    assert len(text_deltas(events)) == 3
    names = {name for name, _ in events}
    assert "message_delta" not in names and "message_stop" not in names

    # More than there are: everything but the end of the message.
    events = read_cut_stream(send(http, sim, "cut_after=100", stream=True, lazy=True))
    assert len(text_deltas(events)) == 32
    assert "message_stop" not in {name for name, _ in events}


def test_cut_after_counts_tool_json_deltas_too(http, sim):
    response = send(
        http, sim, "cut_after=2", tools=TOOLS, tool_choice={"type": "any"}, stream=True, lazy=True
    )
    events = read_cut_stream(response)
    assert len(json_pieces(events)) == 2
    assert "content_block_stop" not in {name for name, _ in events}


def test_cut_after_breaks_the_sdk_stream_and_plain_bodies(http, sim):
    seen = []
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        stream = client(sim, "cut_after=2").messages.create(
            model=MODEL, max_tokens=100, messages=USER, stream=True
        )
        for event in stream:
            if event.type == "content_block_delta":
                seen.append(event.delta.text)
    assert len(seen) == 2

    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        send(http, sim, "cut_after=0")


def test_tokens_per_second_paces_the_stream(http, sim):
    started = time.monotonic()
    events = sse_events(send(http, sim, "tokens=8,tokens_per_second=40", stream=True))
    assert len(text_deltas(events)) == 8
    assert time.monotonic() - started >= 0.2  # 8 tokens at 40/s

    started = time.monotonic()
    assert send(http, sim, "tokens=8,tokens_per_second=40").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_faults_come_from_the_control_api_header_and_directive(http, sim):
    sim.set_fault("claude", status=529, times=1)
    assert [send(http, sim, "claude").status_code for _ in range(2)] == [529, 200]

    response = send(http, sim, headers={**HEADERS, "x-sim-fault": "status=429,retry_after=2"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"

    directive = [{"role": "user", "content": [{"type": "text", "text": "hi [sim tokens=4]"}]}]
    assert send(http, sim, messages=directive).json()["usage"]["output_tokens"] == 4
    combined = [{"role": "user", "content": "hi [sim tool, status=503]"}]
    assert send(http, sim, messages=combined, tools=TOOLS).status_code == 503

    response = send(http, sim, messages=[{"role": "user", "content": "[sim explode=1]"}])
    assert response.status_code == 400
    assert "explode" in error_of(response)["message"]
    assert sim.stats()["scopes"]["claude"]["endpoints"] == {"POST /v1/messages": 2}
