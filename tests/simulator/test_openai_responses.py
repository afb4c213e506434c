"""The simulator's OpenAI Responses endpoint (`POST /v1/responses`), over real HTTP with the
official `openai` SDK (and `requests` where the raw stream or error body matters).

One simulator process serves the whole module; every test starts from a reset. No Django.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from simulator.testing import SimulatorProcess

MODEL = "gpt-4o"
PROMPT = "Tell me about the sea."
INSTRUCTIONS = "Be terse."
TOOL_PROMPT = "Weather in Paris? [sim tool]"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 3},
        },
        "required": ["city"],
    },
    "strict": False,
}
TIME = {
    "type": "function",
    "name": "get_time",
    "parameters": {
        "type": "object",
        "properties": {"zone": {"type": "string"}, "precise": {"type": "boolean"}},
    },
}
TOOLS = [WEATHER, TIME]
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


def sdk(base_url: str, **kwargs: Any) -> OpenAI:
    kwargs.setdefault("max_retries", 0)  # a retried fault would hide what we test
    kwargs.setdefault("timeout", 5)
    return OpenAI(base_url=base_url, api_key="x", **kwargs)


@pytest.fixture
def client(sim: SimulatorProcess) -> OpenAI:
    return sdk(sim.url())


def create(client: OpenAI, **body: Any) -> Any:
    body.setdefault("model", MODEL)
    body.setdefault("input", PROMPT)
    return client.responses.create(**body)


def post(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    timeout: float | tuple[float, float] = 5,
    headers: dict[str, str] | None = None,
    lazy: bool = False,
    **body: Any,
) -> requests.Response:
    body.setdefault("model", MODEL)
    body.setdefault("input", PROMPT)
    return http.post(
        sim.url(scope) + "/responses", json=body, timeout=timeout, headers=headers, stream=lazy
    )


def sse_events(response: requests.Response) -> list[dict[str, Any]]:
    """The data objects of a complete Responses stream, checking the framing on the way."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = response.text.split("\n\n")
    assert frames[-1] == ""  # every frame ends with a blank line
    events = []
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == event_line[len("event: ") :]
        events.append(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def read_cut_stream(response: requests.Response) -> list[dict[str, Any]]:
    """Events of a stream the server aborts: the read must end in an incomplete body."""
    assert response.status_code == 200
    lines = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in response.iter_lines():
            lines.append(line.decode())
    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]


def names(events: list[Any]) -> list[str]:
    return [e["type"] if isinstance(e, dict) else e.type for e in events]


def text_deltas(events: list[dict[str, Any]]) -> list[str]:
    return [e["delta"] for e in events if e["type"] == "response.output_text.delta"]


def argument_deltas(events: list[dict[str, Any]]) -> list[str]:
    return [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def error_of(response: requests.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return body["error"]


def only_call(response: Any) -> Any:
    [item] = response.output
    assert item.type == "function_call"
    return item


# --- plain answers --------------------------------------------------------------------------


def test_answer_shape_and_usage(http, sim):
    response = post(http, sim, instructions=INSTRUCTIONS)
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()

    assert body["id"].startswith("resp_")
    assert body["object"] == "response"
    assert isinstance(body["created_at"], int)
    assert body["status"] == "completed"
    assert body["incomplete_details"] is None
    assert body["error"] is None
    assert body["model"] == MODEL
    assert body["instructions"] == INSTRUCTIONS
    assert body["tools"] == [] and body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is True
    assert body["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    [message] = body["output"]
    assert message["type"] == "message"
    assert message["id"].startswith("msg_")
    assert message["status"] == "completed"
    assert message["role"] == "assistant"
    [part] = message["content"]
    assert part["type"] == "output_text"
    assert part["annotations"] == []
    assert part["text"].endswith(".")
    assert len(part["text"].split()) == 32  # one word, one output token
    assert body["usage"] == {
        "input_tokens": 3 + 4 + tokens(INSTRUCTIONS) + 4 + tokens(PROMPT),  # as chat counts
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 32,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 3 + 4 + tokens(INSTRUCTIONS) + 4 + tokens(PROMPT) + 32,
    }


def test_an_answer_is_the_equivalent_chat_answer(http, sim):
    body = post(http, sim, instructions=INSTRUCTIONS).json()
    again = post(http, sim, instructions=INSTRUCTIONS).json()
    other = post(http, sim, input="Something else").json()
    chat = http.post(
        sim.url() + "/chat/completions",
        json={
            "model": MODEL,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": PROMPT},
            ],
        },
        timeout=5,
    ).json()

    text = body["output"][0]["content"][0]["text"]
    assert text == again["output"][0]["content"][0]["text"]
    assert body["id"] != again["id"]
    assert text != other["output"][0]["content"][0]["text"]
    assert text == chat["choices"][0]["message"]["content"]
    assert body["usage"]["input_tokens"] == chat["usage"]["prompt_tokens"]
    assert body["usage"]["output_tokens"] == chat["usage"]["completion_tokens"]
    assert post(http, sim, model="any-model").json()["model"] == "any-model"


def test_array_input_counts_parts_images_and_roles_like_chat(http, sim):
    items = [
        {"type": "message", "role": "developer", "content": "Answer briefly."},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look at this"},
                {"type": "input_image", "image_url": "data:image/png;base64,xyz"},
            ],
        },
        {"role": "assistant", "content": [{"type": "output_text", "text": "A cat."}]},
        {"role": "user", "content": "And now? [sim tokens=4]"},
    ]
    body = post(http, sim, input=items).json()
    expected = (
        3
        + 4 + tokens("Answer briefly.")
        + 4 + tokens("Look at this") + 85
        + 4 + tokens("A cat.")
        + 4 + tokens("And now? [sim tokens=4]")
    )  # fmt: skip
    assert body["usage"]["input_tokens"] == expected
    assert body["usage"]["output_tokens"] == 4
    assert len(body["output"][0]["content"][0]["text"].split()) == 4


def test_max_output_tokens_truncates_and_the_response_is_incomplete(http, sim):
    full = post(http, sim).json()["output"][0]["content"][0]["text"]
    body = post(http, sim, max_output_tokens=5).json()

    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["max_output_tokens"] == 5
    assert body["output"][0]["status"] == "incomplete"
    text = body["output"][0]["content"][0]["text"]
    assert len(text.split()) == 5
    assert full.startswith(text) and not text.endswith(".")
    assert body["usage"]["output_tokens"] == 5
    assert post(http, sim, max_output_tokens=32).json()["status"] == "completed"

    events = sse_events(post(http, sim, max_output_tokens=5, stream=True))
    assert len(text_deltas(events)) == 5
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["status"] == "incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["response"]["usage"] == body["usage"]


def test_an_empty_answer_is_a_message_with_empty_text(http, sim):
    body = post(http, sim, input="Quiet [sim tokens=0]").json()
    assert body["output"][0]["content"][0]["text"] == ""
    assert body["usage"]["output_tokens"] == 0
    events = sse_events(post(http, sim, input="Quiet [sim tokens=0]", stream=True))
    assert text_deltas(events) == []
    assert events[-1]["type"] == "response.completed"


# --- streams --------------------------------------------------------------------------------


def test_stream_events_come_in_responses_order(http, sim):
    plain = post(http, sim).json()
    response = post(http, sim, stream=True)
    assert "[DONE]" not in response.text
    events = sse_events(response)

    assert names(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 32,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = events[0]["response"]
    assert created["id"].startswith("resp_")
    assert created["status"] == "in_progress"
    assert created["output"] == [] and created["usage"] is None
    assert events[1]["response"] == created

    added = events[2]
    item_id = added["item"]["id"]
    assert added["output_index"] == 0
    assert added["item"] == {
        "type": "message",
        "id": item_id,
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    assert events[3]["part"] == {
        "type": "output_text",
        "text": "",
        "annotations": [],
        "logprobs": [],
    }
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert all(
        (d["item_id"], d["output_index"], d["content_index"]) == (item_id, 0, 0) for d in deltas
    )
    text = plain["output"][0]["content"][0]["text"]
    assert "".join(d["delta"] for d in deltas) == text
    assert events[-4]["text"] == text
    assert events[-3]["part"]["text"] == text
    assert events[-2]["item"]["status"] == "completed"
    assert events[-2]["item"]["content"][0]["text"] == text

    final = events[-1]["response"]
    assert final["id"] == created["id"]
    assert final["status"] == "completed"
    assert final["output"] == [events[-2]["item"]]
    assert final["usage"] == plain["usage"]


def test_the_sdk_reads_answers_and_streams(client):
    response = create(client, instructions=INSTRUCTIONS)
    assert response.status == "completed"
    assert response.output_text
    assert response.usage.output_tokens == 32

    events = list(create(client, instructions=INSTRUCTIONS, stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == response.output_text
    usage = events[-1].response.usage
    assert usage.model_dump() == response.usage.model_dump()
    assert usage.input_tokens == 3 + 4 + tokens(INSTRUCTIONS) + 4 + tokens(PROMPT)

    with client.responses.stream(model=MODEL, input=PROMPT, instructions=INSTRUCTIONS) as stream:
        streamed = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert streamed == final.output_text == response.output_text
    assert final.usage.total_tokens == response.usage.total_tokens


# --- function calls -------------------------------------------------------------------------


def check_weather(arguments: str) -> None:
    value = json.loads(arguments)
    assert set(value) == set(WEATHER["parameters"]["properties"])
    assert isinstance(value["city"], str) and value["city"]
    assert value["unit"] == "celsius"  # enum[0]
    assert 1 <= value["days"] <= 3


def test_required_tool_choice_answers_only_a_call_to_the_first_function(client):
    response = create(client, tools=TOOLS, tool_choice="required")
    call = only_call(response)

    assert response.status == "completed"
    assert call.id.startswith("fc_")
    assert call.call_id.startswith("call_")
    assert call.name == "get_weather"
    assert call.status == "completed"
    check_weather(call.arguments)
    assert response.usage.output_tokens == tokens(call.arguments)

    again = only_call(create(client, tools=TOOLS, tool_choice="required"))
    assert (again.call_id, again.arguments) == (call.call_id, call.arguments)
    assert again.id != call.id


def test_a_named_function_choice_calls_that_function(client):
    response = create(client, tools=TOOLS, tool_choice={"type": "function", "name": "get_time"})
    call = only_call(response)
    assert call.name == "get_time"
    arguments = json.loads(call.arguments)
    assert set(arguments) == {"zone", "precise"}
    assert arguments["precise"] is True


def test_calls_equal_the_equivalent_chat_calls(http, sim, client):
    call = only_call(create(client, tools=TOOLS, tool_choice="required"))
    chat_tools = [
        {"type": "function", "function": {k: v for k, v in t.items() if k != "type"}} for t in TOOLS
    ]
    chat = http.post(
        sim.url() + "/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": PROMPT}],
            "tools": chat_tools,
            "tool_choice": "required",
        },
        timeout=5,
    ).json()
    chat_call = chat["choices"][0]["message"]["tool_calls"][0]
    assert (chat_call["id"], chat_call["function"]["arguments"]) == (call.call_id, call.arguments)


def test_the_directive_with_auto_gives_text_then_a_call(client):
    for body in ({}, {"tool_choice": "auto"}):
        response = create(client, input=TOOL_PROMPT, tools=TOOLS, **body)
        message, call = response.output
        assert message.type == "message" and call.type == "function_call"
        words = len(response.output_text.split())
        assert words == 32
        assert call.name == "get_weather"
        check_weather(call.arguments)
        assert response.usage.output_tokens == words + tokens(call.arguments)
        assert response.status == "completed"

    call_only = create(client, input="Weather? [sim tool tokens=0]", tools=TOOLS)
    only_call(call_only)

    for body in ({"tool_choice": "none"}, {"tools": None}):
        text_only = create(client, input=TOOL_PROMPT, **{"tools": TOOLS, **body})
        assert [i.type for i in text_only.output] == ["message"]

    truncated = create(client, input=TOOL_PROMPT, tools=TOOLS, max_output_tokens=5)
    assert [i.type for i in truncated.output] == ["message"]
    assert truncated.status == "incomplete"


def test_a_streamed_call_comes_in_argument_pieces(http, sim):
    plain = post(http, sim, input=TOOL_PROMPT, tools=TOOLS).json()
    events = sse_events(post(http, sim, input=TOOL_PROMPT, tools=TOOLS, stream=True))
    message, call = plain["output"]

    assert "".join(text_deltas(events)) == message["content"][0]["text"]
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [a["output_index"] for a in added] == [0, 1]
    call_id = added[1]["item"]["id"]
    assert added[1]["item"] == {
        "type": "function_call",
        "id": call_id,
        "call_id": call["call_id"],
        "name": "get_weather",
        "arguments": "",
        "status": "in_progress",
    }
    pieces = argument_deltas(events)
    assert len(pieces) > 1
    assert all(0 < len(p) <= 12 for p in pieces)
    assert "".join(pieces) == call["arguments"]
    arg_events = [e for e in events if e["type"].startswith("response.function_call_arguments")]
    assert all((e["item_id"], e["output_index"]) == (call_id, 1) for e in arg_events)
    assert arg_events[-1]["type"] == "response.function_call_arguments.done"
    assert arg_events[-1]["arguments"] == call["arguments"]
    assert names(events)[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["message", "function_call"]
    assert final["output"][1]["arguments"] == call["arguments"]
    assert final["usage"] == plain["usage"]


@pytest.mark.parametrize(
    "body",
    [
        {"tools": TOOLS, "tool_choice": "required"},
        {"tools": TOOLS, "input": TOOL_PROMPT},
        {"tools": TOOLS, "tool_choice": "none"},
        {"text": {"format": {"type": "json_object"}}},
    ],
)
def test_usage_is_the_same_streamed_or_not(client, body):
    plain = create(client, **body)
    events = list(create(client, stream=True, **body))
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage.model_dump() == plain.usage.model_dump()


def test_the_sdk_stream_helper_accumulates_the_same_call(client):
    plain = create(client, input=TOOL_PROMPT, tools=TOOLS)
    with client.responses.stream(model=MODEL, input=TOOL_PROMPT, tools=TOOLS) as stream:
        final = stream.get_final_response()
    assert [i.type for i in final.output] == ["message", "function_call"]
    assert final.output_text == plain.output_text
    assert (final.output[1].call_id, final.output[1].arguments) == (
        plain.output[1].call_id,
        plain.output[1].arguments,
    )
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_a_function_call_output_ends_the_tool_loop_with_text(client):
    first = create(client, input=[{"role": "user", "content": TOOL_PROMPT}], tools=TOOLS)
    call = first.output[1]
    history = [
        {"role": "user", "content": TOOL_PROMPT},
        *(item.model_dump(exclude_none=True) for item in first.output),  # replayed as Codex does
        {"type": "function_call_output", "call_id": call.call_id, "output": "18C and sunny"},
    ]
    second = create(client, input=history, tools=TOOLS)
    assert [i.type for i in second.output] == ["message"]
    assert second.status == "completed"
    assert second.usage.input_tokens > first.usage.input_tokens

    events = list(create(client, input=history, tools=TOOLS, stream=True))
    assert events[-1].response.usage.model_dump() == second.usage.model_dump()
    assert "response.function_call_arguments.delta" not in names(events)


# --- JSON output ----------------------------------------------------------------------------


def test_json_formats_answer_json(client):
    plain = create(client).output_text
    answer = create(client, text={"format": {"type": "json_object"}})
    assert json.loads(answer.output_text) == {"answer": plain}
    assert answer.usage.output_tokens == len(plain.split()) + 4

    schema = {"format": {"type": "json_schema", "name": "person", "schema": PERSON}}
    answer = create(client, text=schema)
    value = json.loads(answer.output_text)
    assert set(value) == {"name", "age", "tags"}
    assert isinstance(value["age"], int) and isinstance(value["tags"][0], str)
    assert answer.usage.output_tokens == tokens(answer.output_text)
    assert answer.text.format.type == "json_schema"


# --- validation -----------------------------------------------------------------------------


def call_item(call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "get_time", "arguments": "{}"}


def output_item(call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "noon"}


USER_ITEM = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": None}, "model", "missing_required_parameter"),
        ({"model": ""}, "model", "invalid_type"),
        ({"input": None}, "input", "missing_required_parameter"),
        ({"input": 5}, "input", "invalid_type"),
        ({"input": []}, "input", "empty_array"),
        ({"input": ["hi"]}, "input[0]", "invalid_type"),
        ({"input": [{"type": "bogus"}]}, "input[0].type", "invalid_value"),
        ({"input": [{"content": "x"}]}, "input[0].role", "missing_required_parameter"),
        ({"input": [{"role": "bot", "content": "x"}]}, "input[0].role", "invalid_value"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role", "invalid_value"),
        ({"input": [{"role": "user"}]}, "input[0].content", "missing_required_parameter"),
        ({"input": [{"role": "user", "content": 5}]}, "input[0].content", "invalid_type"),
        (
            {"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
            "input[0].content[0].type",
            "invalid_value",
        ),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]},
            "input[0].content[0].type",
            "invalid_value",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
            "input[0].content[0].type",
            "invalid_value",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "input[0].content[0].text",
            "missing_required_parameter",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].image_url",
            "missing_required_parameter",
        ),
        (
            {"input": [USER_ITEM, {"type": "function_call", "call_id": "c", "arguments": "{}"}]},
            "input[1].name",
            "missing_required_parameter",
        ),
        (
            {"input": [USER_ITEM, {"type": "function_call_output", "output": "x"}]},
            "input[1].call_id",
            "missing_required_parameter",
        ),
        ({"input": [USER_ITEM, output_item()]}, "input", None),
        ({"input": [USER_ITEM, call_item()]}, "input", None),
        ({"input": [USER_ITEM, call_item(), output_item("call_9")]}, "input", None),
        ({"tools": "get_time"}, "tools", "invalid_type"),
        ({"tools": [{"type": "function"}]}, "tools[0].name", "missing_required_parameter"),
        (
            {"tools": [{"type": "function", "function": {"name": "get_time"}}]},  # chat-shaped
            "tools[0].name",
            "missing_required_parameter",
        ),
        ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name", "invalid_value"),
        (
            {"tools": [{"type": "function", "name": "f", "parameters": "x"}]},
            "tools[0].parameters",
            "invalid_type",
        ),
        ({"tools": [TIME, {"type": "retrieval"}]}, "tools[1].type", "invalid_value"),
        ({"tools": [{"name": "f"}]}, "tools[0].type", "missing_required_parameter"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "name": "get_stock_price"}},
            "tool_choice",
            "invalid_value",
        ),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function"}},
            "tool_choice.name",
            "missing_required_parameter",
        ),
        ({"tool_choice": "required"}, "tool_choice", None),
        ({"max_output_tokens": 0}, "max_output_tokens", "integer_below_min_value"),
        ({"max_output_tokens": "10"}, "max_output_tokens", "invalid_type"),
        ({"temperature": 3}, "temperature", "invalid_value"),
        ({"top_p": 1.5}, "top_p", "invalid_value"),
        ({"stream": "yes"}, "stream", "invalid_type"),
        ({"store": "no"}, "store", "invalid_type"),
        ({"metadata": {"n": 1}}, "metadata", "invalid_type"),
        ({"instructions": ["x"]}, "instructions", "invalid_type"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type", "invalid_value"),
        (
            {"text": {"format": {"type": "json_schema", "schema": PERSON}}},
            "text.format.name",
            "missing_required_parameter",
        ),
        ({"messages": [USER_ITEM]}, "messages", "unknown_parameter"),
        ({"max_tokens": 10}, "max_tokens", "unknown_parameter"),
    ],
)
def test_invalid_requests_get_a_400_in_openai_shape(http, sim, body, param, code):
    payload: dict[str, Any] = {"model": MODEL, "input": PROMPT, **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = http.post(sim.url() + "/responses", json=payload, timeout=5)
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code


def test_the_sdk_raises_bad_request_for_an_undeclared_function(client):
    with pytest.raises(openai.BadRequestError) as raised:
        create(client, tools=TOOLS, tool_choice={"type": "function", "name": "nope"})
    assert raised.value.param == "tool_choice"


def test_a_codex_style_request_is_accepted(http, sim):
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        call_item(),
        output_item(),
    ]
    body = {
        "instructions": "You are Codex.",
        "input": items,
        "tools": [TIME, {"type": "web_search"}, {"type": "custom", "name": "apply_patch"}],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
        "prompt_cache_key": "abc",
        "text": {"format": {"type": "text"}, "verbosity": "low"},
        "temperature": 0.2,
        "metadata": {"session": "s1"},
    }
    response = post(http, sim, **body)
    assert response.status_code == 200
    answer = response.json()
    assert [i["type"] for i in answer["output"]] == ["message"]
    assert answer["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert answer["store"] is False
    assert answer["parallel_tool_calls"] is False
    assert answer["temperature"] == 0.2
    assert answer["metadata"] == {"session": "s1"}
    assert answer["text"]["verbosity"] == "low"

    # With previous_response_id, calls and outputs need not pair up within `input`.
    follow_up = post(http, sim, previous_response_id="resp_1", input=[output_item("call_x")])
    assert follow_up.status_code == 200


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "invalid_request_error"),
        (429, "requests"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
def test_status_fault_answers_an_openai_error(http, sim, status, error_type):
    response = post(http, sim, f"status={status}")
    error = error_of(response, status)
    assert error["type"] == error_type
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert error["code"] == "rate_limit_exceeded"
    else:
        assert "retry-after" not in response.headers


def test_status_fault_on_a_stream_is_a_json_error_before_any_event(http, sim):
    response = post(http, sim, "status=503", stream=True)
    assert response.headers["content-type"].startswith("application/json")
    error_of(response, 503)

    response = post(http, sim, "status=429,code=insufficient_quota,retry_after=7")
    assert response.headers["retry-after"] == "7"
    assert error_of(response, 429)["code"] == "insufficient_quota"


def test_the_sdk_raises_its_typed_errors_for_status_faults(sim):
    cases = [
        ("status=429", openai.RateLimitError),
        ("status=500", openai.InternalServerError),
        ("status=401", openai.AuthenticationError),
    ]
    for scope, error_class in cases:
        with pytest.raises(error_class):
            create(sdk(sim.url(scope)))
        with pytest.raises(error_class):
            list(create(sdk(sim.url(scope)), stream=True))


def test_reset_and_hang(http, sim):
    with pytest.raises(requests.ConnectionError):
        post(http, sim, "reset")
    with pytest.raises(openai.APIConnectionError):
        create(sdk(sim.url("reset")))
    with pytest.raises(requests.ReadTimeout):
        post(http, sim, "hang_s=2", timeout=(2, 0.3))
    with pytest.raises(openai.APITimeoutError):
        create(sdk(sim.url("hang_s=2"), timeout=0.3))


def test_malformed_answers_do_not_parse(http, sim):
    response = post(http, sim, "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)

    response = post(http, sim, "malformed", stream=True)
    frames = response.text.split("\n\n")[:-1]
    invalid = []
    for frame in frames:
        try:
            json.loads(frame.split("\n")[1].removeprefix("data: "))
        except ValueError:
            invalid.append(frame)
    assert len(invalid) == 1
    assert frames.index(invalid[0]) == 1  # right after response.created
    assert frames[-1].startswith("event: response.completed")
    with pytest.raises(ValueError):
        list(create(sdk(sim.url("malformed")), stream=True))


def test_cut_after_ends_the_stream_after_n_text_deltas(http, sim):
    events = read_cut_stream(post(http, sim, "cut_after=3", stream=True, lazy=True))
    assert len(text_deltas(events)) == 3
    assert "response.output_text.done" not in names(events)
    assert "response.completed" not in names(events)

    # More than there are: everything but the terminal event.
    events = read_cut_stream(post(http, sim, "cut_after=100", stream=True, lazy=True))
    assert len(text_deltas(events)) == 32
    assert names(events)[-1] == "response.output_item.done"


def test_cut_after_counts_argument_deltas_too(http, sim):
    response = post(
        http, sim, "cut_after=2", tools=TOOLS, tool_choice="required", stream=True, lazy=True
    )
    events = read_cut_stream(response)
    assert len(argument_deltas(events)) == 2
    assert names(events)[-3:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
    ]


def test_cut_after_breaks_the_sdk_stream_and_plain_bodies(http, sim):
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for event in create(sdk(sim.url("cut_after=2")), stream=True):
            if event.type == "response.output_text.delta":
                seen.append(event.delta)
    assert len(seen) == 2

    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        post(http, sim, "cut_after=0")


def test_tokens_per_second_paces_the_stream_and_the_plain_answer(http, sim):
    started = time.monotonic()
    events = sse_events(post(http, sim, "tokens=8,tokens_per_second=40", stream=True))
    assert len(text_deltas(events)) == 8
    assert time.monotonic() - started >= 0.2  # 8 tokens at 40/s

    started = time.monotonic()
    assert post(http, sim, "tokens=8,tokens_per_second=40").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_faults_come_from_the_control_api_header_and_directive(http, sim):
    sim.set_fault("codex", status=503, times=1)
    assert [post(http, sim, "codex").status_code for _ in range(2)] == [503, 200]

    response = post(http, sim, headers={"x-sim-fault": "status=429,retry_after=2"})
    assert response.headers["retry-after"] == "2"
    error_of(response, 429)

    parts = [{"role": "user", "content": [{"type": "input_text", "text": "hi [sim tokens=4]"}]}]
    assert post(http, sim, input=parts).json()["usage"]["output_tokens"] == 4
    combined = post(http, sim, input="hi [sim tool, status=503]", tools=TOOLS)
    assert combined.status_code == 503
    assert post(http, sim, instructions="[sim status=503]").status_code == 200  # not a user turn

    response = post(http, sim, input="[sim tool explode=1]")
    assert "explode" in error_of(response)["message"]
    assert sim.stats()["scopes"]["codex"]["endpoints"] == {"POST /v1/responses": 2}
