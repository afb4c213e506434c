"""Tool calls, JSON mode and their validation on the simulator's OpenAI chat endpoint, driven
over real HTTP with the official `openai` SDK (and `requests` where the raw stream matters).

One simulator process serves the whole module; every test starts from a reset. No Django.
"""

from __future__ import annotations

import json
import math
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from simulator.testing import SimulatorProcess

MODEL = "gpt-4o"
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
DIRECTIVE = [{"role": "user", "content": "Weather in Paris? [sim tool]"}]
WEATHER = {
    "type": "function",
    "function": {
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
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}, "precise": {"type": "boolean"}},
        },
    },
}
TOOLS = [WEATHER, TIME]
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object", "properties": {"street": {"type": "string"}}},
    },
    "required": ["name", "age", "tags", "address"],
}
NAMELESS = {"type": "function", "function": {"parameters": {"type": "object"}}}
UNDECLARED = {"type": "function", "function": {"name": "get_stock_price"}}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}


@pytest.fixture
def client(sim: SimulatorProcess) -> OpenAI:
    return sdk(sim.url())


def sdk(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=5)


def create(client: OpenAI, **body: Any) -> Any:
    body.setdefault("model", MODEL)
    body.setdefault("messages", USER)
    return client.chat.completions.create(**body)


def stream_chunks(client: OpenAI, **body: Any) -> list[Any]:
    return list(create(client, stream=True, stream_options={"include_usage": True}, **body))


def tool_deltas(chunks: list[Any]) -> list[Any]:
    return [
        call
        for chunk in chunks
        if chunk.choices and chunk.choices[0].delta.tool_calls
        for call in chunk.choices[0].delta.tool_calls
    ]


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def finish_of(chunks: list[Any]) -> str:
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert all(r is None for r in reasons[:-1])
    return reasons[-1]


def properties(tool: dict[str, Any]) -> set[str]:
    return set(tool["function"]["parameters"]["properties"])


# --- forced and named tool calls --------------------------------------------------------------


def test_required_tool_choice_calls_the_first_tool_with_schema_shaped_arguments(client):
    completion = create(client, tools=TOOLS, tool_choice="required")
    choice = completion.choices[0]
    message = choice.message

    assert choice.finish_reason == "tool_calls"
    assert message.content is None
    assert len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == properties(WEATHER)
    assert isinstance(arguments["city"], str) and arguments["city"]
    assert arguments["unit"] == "celsius"  # enum[0]
    assert 1 <= arguments["days"] <= 3
    assert completion.usage.completion_tokens == math.ceil(len(call.function.arguments) / 4)

    again = create(client, tools=TOOLS, tool_choice="required").choices[0].message.tool_calls[0]
    assert (again.id, again.function.arguments) == (call.id, call.function.arguments)


def test_named_tool_choice_calls_that_tool(client):
    choice = {"type": "function", "function": {"name": "get_time"}}
    completion = create(client, tools=TOOLS, tool_choice=choice)
    call = completion.choices[0].message.tool_calls[0]

    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.content is None
    assert call.function.name == "get_time"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == properties(TIME)
    assert arguments["precise"] is True


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_time"}}]
)
def test_streamed_tool_call_fragments_join_to_the_plain_arguments(client, tool_choice):
    plain = create(client, tools=TOOLS, tool_choice=tool_choice)
    expected = plain.choices[0].message.tool_calls[0]
    chunks = stream_chunks(client, tools=TOOLS, tool_choice=tool_choice)

    assert chunks[0].choices[0].delta.role == "assistant"
    assert text_of(chunks) == ""
    deltas = tool_deltas(chunks)
    first, fragments = deltas[0], deltas[1:]
    assert first.index == 0
    assert first.id == expected.id
    assert first.type == "function"
    assert first.function.name == expected.function.name
    assert first.function.arguments == ""
    assert fragments
    assert all(d.index == 0 and d.id is None and d.function.name is None for d in fragments)
    assert all(0 < len(d.function.arguments) <= 12 for d in fragments)
    joined = "".join(d.function.arguments for d in fragments)
    assert joined == expected.function.arguments
    assert set(json.loads(joined)) == properties(
        TIME if expected.function.name == "get_time" else WEATHER
    )

    assert finish_of(chunks) == "tool_calls"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump() == plain.usage.model_dump()


def test_the_sdk_stream_helper_accumulates_the_same_call(client):
    plain = create(client, tools=TOOLS, tool_choice="required").choices[0].message
    with client.chat.completions.stream(
        model=MODEL, messages=USER, tools=TOOLS, tool_choice="required"
    ) as stream:
        final = stream.get_final_completion().choices[0]
    assert final.finish_reason == "tool_calls"
    call = final.message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        plain.tool_calls[0].id,
        plain.tool_calls[0].function.name,
        plain.tool_calls[0].function.arguments,
    )


def test_n_choices_each_get_their_own_call(client):
    completion = create(client, tools=TOOLS, tool_choice="required", n=2)
    calls = [c.message.tool_calls[0] for c in completion.choices]
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert calls[0].id != calls[1].id
    total = sum(math.ceil(len(c.function.arguments) / 4) for c in calls)
    assert completion.usage.completion_tokens == total


# --- the [sim tool] directive and tool_choice none --------------------------------------------


def test_directive_with_auto_gives_the_usual_text_then_a_call_to_the_first_tool(client):
    text_only = create(client, messages=DIRECTIVE)  # no tools: a plain answer, not a 400
    assert text_only.choices[0].finish_reason == "stop"
    assert text_only.choices[0].message.tool_calls is None

    for body in ({}, {"tool_choice": "auto"}):
        completion = create(client, messages=DIRECTIVE, tools=TOOLS, **body)
        message = completion.choices[0].message
        assert completion.choices[0].finish_reason == "tool_calls"
        assert message.content == text_only.choices[0].message.content
        assert message.tool_calls[0].function.name == "get_weather"
        arguments = message.tool_calls[0].function.arguments
        assert set(json.loads(arguments)) == properties(WEATHER)
        words = len(message.content.split())
        assert words == 32
        assert completion.usage.completion_tokens == words + math.ceil(len(arguments) / 4)

    chunks = stream_chunks(client, messages=DIRECTIVE, tools=TOOLS)
    assert text_of(chunks) == message.content
    deltas = tool_deltas(chunks)
    assert "".join(d.function.arguments for d in deltas) == arguments
    assert finish_of(chunks) == "tool_calls"
    assert chunks[-1].usage.completion_tokens == completion.usage.completion_tokens


def test_directive_mixes_with_faults_and_tokens_zero_means_the_call_only(client):
    messages = [{"role": "user", "content": "Now [sim tool, tokens=0]"}]
    completion = create(client, messages=messages, tools=TOOLS)
    message = completion.choices[0].message
    assert message.content is None
    assert len(message.tool_calls) == 1

    messages = [{"role": "user", "content": "Now [sim tokens=3 tool]"}]
    completion = create(client, messages=messages, tools=TOOLS)
    assert len(completion.choices[0].message.content.split()) == 3

    # max_tokens truncating the text: no call.
    completion = create(client, messages=DIRECTIVE, tools=TOOLS, max_tokens=5)
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.tool_calls is None


def test_tool_choice_none_never_calls(client):
    for messages in (USER, DIRECTIVE):
        completion = create(client, messages=messages, tools=TOOLS, tool_choice="none")
        assert completion.choices[0].finish_reason == "stop"
        assert completion.choices[0].message.tool_calls is None
        assert completion.choices[0].message.content


def test_a_tool_loop_ends_with_a_text_answer(client):
    first = create(client, messages=DIRECTIVE, tools=TOOLS).choices[0].message
    call = first.tool_calls[0]
    follow_up = [
        *DIRECTIVE,
        {
            "role": "assistant",
            "content": first.content,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    completion = create(client, messages=follow_up, tools=TOOLS)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None


# --- JSON mode ----------------------------------------------------------------------------------


def test_json_object_mode_answers_a_json_object_counted_as_words_plus_four(client):
    plain = create(client).choices[0].message.content
    completion = create(client, response_format={"type": "json_object"})
    content = completion.choices[0].message.content

    assert json.loads(content) == {"answer": plain}
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == len(plain.split()) + 4

    chunks = stream_chunks(client, response_format={"type": "json_object"})
    assert text_of(chunks) == content
    pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) == chunks[-1].usage.completion_tokens == completion.usage.completion_tokens

    short = create(client, response_format={"type": "json_object"}, max_tokens=10)
    assert short.choices[0].finish_reason == "length"
    assert len(json.loads(short.choices[0].message.content)["answer"].split()) == 6
    assert short.usage.completion_tokens == 10


def test_json_schema_mode_answers_json_built_from_the_schema(client):
    completion = create(client, response_format=JSON_SCHEMA)
    content = completion.choices[0].message.content
    value = json.loads(content)

    assert set(value) == set(PERSON["properties"])
    assert isinstance(value["name"], str) and isinstance(value["age"], int)
    assert isinstance(value["tags"], list) and isinstance(value["tags"][0], str)
    assert set(value["address"]) == {"street"}
    assert completion.usage.completion_tokens == math.ceil(len(content) / 4)

    chunks = stream_chunks(client, response_format=JSON_SCHEMA)
    assert text_of(chunks) == content
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert all(len(p) <= 12 for p in pieces)
    assert chunks[-1].usage.completion_tokens == completion.usage.completion_tokens
    assert create(client, response_format={"type": "text"}).choices[0].message.content


# --- usage: stream == plain ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"tools": TOOLS, "tool_choice": "required"},
        {"tools": TOOLS, "messages": DIRECTIVE},
        {"tools": TOOLS, "messages": DIRECTIVE, "n": 2},
        {"response_format": {"type": "json_object"}},
        {"response_format": JSON_SCHEMA, "n": 3},
        {"tools": TOOLS, "tool_choice": "none"},
    ],
)
def test_usage_is_the_same_streamed_or_not(client, body):
    plain = create(client, **body)
    chunks = stream_chunks(client, **body)
    assert chunks[-1].usage.model_dump() == plain.usage.model_dump()
    assert plain.usage.prompt_tokens > 0


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [NAMELESS]}, "tools[0].function.name"),
        ({"tools": [WEATHER, {"type": "function", "function": {}}]}, "tools[1].function.name"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        ({"tools": []}, "tools"),
        ({"tools": TOOLS, "tool_choice": UNDECLARED}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": "none"}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ],
)  # fmt: skip
def test_invalid_tool_and_format_requests_are_400_with_param(client, body, param):
    with pytest.raises(openai.BadRequestError) as raised:
        create(client, **body)
    assert raised.value.status_code == 400
    assert raised.value.param == param
    assert raised.value.type == "invalid_request_error"
    if param == "tool_choice" and "tools" not in body:
        assert "only allowed when 'tools' are specified" in raised.value.message


# --- faults on tool streams ---------------------------------------------------------------------


def test_cut_after_ends_a_tool_stream_after_n_argument_fragments(sim):
    body = {"model": MODEL, "messages": USER, "tools": TOOLS, "tool_choice": "required"}
    body["stream"] = True
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(
            sim.url("cut_after=2") + "/chat/completions", json=body, timeout=5, stream=True
        )
        assert response.status_code == 200
        payloads = []
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for line in response.iter_lines():
                if line:
                    payloads.append(line.decode().removeprefix("data: "))
    assert "[DONE]" not in payloads
    chunks = [json.loads(p) for p in payloads]
    calls = [c["choices"][0]["delta"].get("tool_calls") for c in chunks]
    calls = [c[0] for c in calls if c]
    assert calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert len(calls) == 3  # the named first delta, then exactly two fragments
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)

    stream = create(sdk(sim.url("cut_after=1")), tools=TOOLS, tool_choice="required", stream=True)
    with pytest.raises(openai.APIConnectionError):
        list(stream)


def test_the_tool_word_is_not_a_bad_fault_spec_but_other_words_still_are(client):
    assert create(client, messages=DIRECTIVE).choices[0].message.content
    with pytest.raises(openai.BadRequestError) as raised:
        create(client, messages=[{"role": "user", "content": "[sim tool explode=1]"}])
    assert "explode" in raised.value.message
